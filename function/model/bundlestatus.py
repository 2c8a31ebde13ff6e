"""The status of an AddonBundle: written by the reconciler, read by the function.

Per target cluster, each add-on's phase, input hash, applied kinds, conflicts and (DryRun)
plan; drift and connection state; the bundle's conditions and the progress of a
``maxUpdate`` rollout. The function reads these shapes to report add-ons on the XR, so they
stand in the model beside the spec (`function.model.bundle`).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from function.model.common import ObjectRef, Spec
from function.model.plan import PlannedChange, PlanTruncation


class AddonPhase(StrEnum):
    """Where one add-on stands on one cluster."""

    PENDING = "Pending"  # not started: cluster not ready or dependencies not healthy
    WAITING = "Waiting"  # applied, waiting for its health checks
    APPLIED = "Applied"  # applied; no health checks apply (or DryRun computed the diff)
    HEALTHY = "Healthy"  # applied and healthy; dependants may start
    FAILED = "Failed"  # render or apply failed; `message` says where and why


READY_PHASES = frozenset({AddonPhase.HEALTHY, AddonPhase.APPLIED})


class AddonStatus(Spec):
    """Status of one add-on on one cluster."""

    name: str
    phase: AddonPhase
    hash: str | None = None
    resources: int = 0
    kinds: list[str] = Field(default_factory=list)
    """The apiVersion/kind of every kind applied (``apps/v1/Deployment``), to find them again."""
    message: str | None = None
    reason: str | None = None
    """Why the add-on is failed or held back (``TemplateFailed``, ``ClusterUnreachable``...);
    unset while all is well."""
    last_applied_time: str | None = None
    conflicts: list[ObjectConflict] | None = None
    """Objects of the add-on that another bundle manages on the cluster, with the winner."""
    plan: list[PlannedChange] | None = None
    """DryRun: what applying the add-on would do to each object."""
    plan_truncated: PlanTruncation | None = None
    """DryRun: set when ``plan`` lists only part of the objects, with counts of the rest."""


class ObjectConflict(Spec):
    """An object two bundles apply on one cluster, and which of them manages it."""

    object: str
    """``ConfigMap apps/settings``."""
    winner: str
    """The managing bundle, ``<namespace>/<name>``."""
    winner_tier: int


class DriftStatus(Spec):
    """How often drift was corrected on a cluster."""

    count: int = 0
    last_detected: str | None = None


class ConnectionStatus(StrEnum):
    """Whether a workload cluster answers; set only once it has stopped answering."""

    DOWN = "Down"  # several connections in a row failed; retried with capped back-off


def entry_key(ref: ObjectRef) -> str:
    """The key of a cluster's entry in ``status.clusters``: ``<Kind>.<group>/<namespace>/<name>``
    (``Cluster.cluster.x-k8s.io/fleet/c1``), one string, unique in the list (pure)."""
    group = ref.api_version.rpartition("/")[0]
    kind = f"{ref.kind}.{group}" if group else ref.kind
    return f"{kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{kind}/{ref.name}"


def keyed(entry: ClusterAddonsStatus) -> ClusterAddonsStatus:
    """The entry with its `key` set (an entry read from an older status has none)."""
    if entry.key is not None:
        return entry
    return entry.model_copy(update={"key": entry_key(entry.cluster_ref)})


class ClusterAddonsStatus(Spec):
    """Status of a bundle on one target cluster."""

    key: str | None = Field(
        default=None,
        description="The cluster as <Kind>.<group>/<namespace>/<name>: the key of this list.",
    )
    """What ``status.clusters`` is keyed by (a list map: replicas that share a bundle's
    clusters each apply their own entries, and the API server merges them)."""
    cluster_ref: ObjectRef
    observed_generation: int | None = None
    """The bundle generation the cluster was last converged for (replicas that share a
    bundle's clusters converge it at their own pace)."""
    ready: bool = False
    addons: list[AddonStatus] = Field(default_factory=list)
    drift: DriftStatus | None = None
    connection_status: ConnectionStatus | None = None
    """``Down`` after consecutive connection failures; unset while the cluster answers."""
    connection_message: str | None = None
    """The connection failure that took the cluster Down (the latest, when it differs)."""
    down_since: str | None = None
    """When the cluster was found Down."""


class Condition(Spec):
    """A Kubernetes condition (metav1.Condition)."""

    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


class RolloutStatus(Spec):
    """How far the bundle's current generation has rolled across its clusters (maxUpdate)."""

    generation: int | None = None
    updating_clusters: list[str] = Field(default_factory=list)
    """Clusters the change is being applied to (at most maxUpdate)."""
    updated_clusters: int = 0
    """Clusters whose add-ons are healthy with the change."""
    failed_clusters: list[str] = Field(default_factory=list)
    """Clusters where the change failed: the rollout goes no further while there are any."""
    waiting_clusters: int = 0
    """Clusters still to get the change."""
    message: str | None = None


class AddonBundleStatus(Spec):
    """The status of an AddonBundle."""

    observed_generation: int | None = None
    clusters: list[ClusterAddonsStatus] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    rollout: RolloutStatus | None = None
