"""What every family of Crossplane managed resources shares: API groups, metadata, readiness.

The EKS, GKE and AKS families (`function.compose.providers.eks`, ``gke``, ``aks``) compose
upbound managed resources in Crossplane v2's namespaced groups (``*.m.upbound.io``) or, with
the Input's ``cloudGroups: legacy``, in the cluster-scoped ``*.upbound.io`` groups; the
metadata, references and connection Secret differ between the two in the same way for every
cloud, so they are written here. Readiness is the managed resources' own: a resource is ready
on ``Ready=True``; ``Synced=False`` carries the provider's reason (``capi-gpu.md`` §2). A
family names its resources in the order they come up and which of them must be ready before
the API server accepts requests (the cluster and whatever writes the kubeconfig);
`ManagedFamily` does the rest of `function.compose.providers.family.ProviderFamily` from that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from function.catalog.clouds import Machine, NotOfferedError
from function.catalog.clouds import machine as catalog_machine
from function.compose import naming
from function.compose.providers.family import ClusterPlan, ClusterRequest, ClusterState
from function.errors import SpecError
from function.model.clusters import KUBECONFIG_KEY_ANNOTATION, KUBECONFIG_SECRET_ANNOTATION
from function.model.common import ObjectRef
from function.model.input import CloudGroups
from function.model.xr import Provider
from function.model.xrstatus import SecretKeyRef

PAUSED_ANNOTATION = "crossplane.io/paused"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
"""The taint of every cloud GPU pool, in the form EKS and GKE node pools take it."""
KUBECONFIG_KEY = "kubeconfig"
"""The connection-detail key every upbound cluster kind writes its kubeconfig under."""


def condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    """The ``status.conditions`` entry of ``kind`` of an observed object, if any."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)


def managed_ready(obj: Mapping[str, Any] | None) -> bool:
    """A Crossplane managed resource is ready when it reports ``Ready=True``."""
    found = condition(obj, "Ready")
    return found is not None and found.get("status") == "True"


def managed_failure(obj: Mapping[str, Any] | None) -> str | None:
    """Why a managed resource cannot sync (``Synced=False``), if it cannot."""
    found = condition(obj, "Synced")
    if found is None or found.get("status") != "False":
        return None
    return str(found.get("message") or found.get("reason") or "not synced")


def gpu_machine(request: ClusterRequest, provider: Provider) -> Machine:
    """The cloud's machine for the pool's GPU product and GPUs per node; a `SpecError` at
    ``spec.gpu.product`` (or ``perNode``) naming what the cloud offers otherwise."""
    pool = request.pool
    try:
        return catalog_machine(provider, request.spec.region, pool.gpu.product, pool.per_node)
    except NotOfferedError as err:
        raise SpecError.at(f"spec.gpu.{err.field}", str(err)) from None


def api_version(group: str, settings_groups: CloudGroups, namespaced: str, legacy: str) -> str:
    """``eks.aws.m.upbound.io/v1beta1`` or ``eks.aws.upbound.io/v1beta2``: ``group`` is the
    legacy group; each scope has its own version of the kind."""
    if settings_groups is CloudGroups.LEGACY:
        return f"{group}/{legacy}"
    head, _, tail = group.partition(".upbound.io")
    return f"{head}.m.upbound.io{tail}/{namespaced}"


def metadata(
    request: ClusterRequest, name: str, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A managed resource's metadata: namespaced in the tenant's namespace unless legacy."""
    out: dict[str, Any] = {"name": name}
    if request.settings.cloud_groups is CloudGroups.NAMESPACED:
        out["namespace"] = request.namespace
    if labels:
        out["labels"] = dict(labels)
    return out


def connection_secret(request: ClusterRequest, name: str) -> dict[str, Any]:
    """``writeConnectionSecretToRef``: a namespaced resource writes into its own namespace; a
    legacy one names the tenant's."""
    if request.settings.cloud_groups is CloudGroups.NAMESPACED:
        return {"name": name}
    return {"name": name, "namespace": request.namespace}


def plan(
    request: ClusterRequest,
    resources: dict[str, dict[str, Any]],
    cluster: str,
    secret: str,
) -> ClusterPlan:
    """The plan of a cloud family: ``cluster`` names the resource the add-ons target, and the
    kubeconfig lands in the tenant's Secret ``secret`` under ``kubeconfig``; the cluster object
    says so in its annotations, for the reconciler to find when a selector picks it."""
    body = resources[cluster]
    body["metadata"]["annotations"] = {
        **body["metadata"].get("annotations", {}),
        KUBECONFIG_SECRET_ANNOTATION: secret,
        KUBECONFIG_KEY_ANNOTATION: KUBECONFIG_KEY,
    }
    ref = ObjectRef(
        api_version=body["apiVersion"],
        kind=body["kind"],
        name=body["metadata"]["name"],
        namespace=body["metadata"].get("namespace"),
    )
    return ClusterPlan(
        resources, ref, SecretKeyRef(name=secret, namespace=request.namespace, key=KUBECONFIG_KEY)
    )


OBSERVED_FIELDS = (
    "metadata.deletionTimestamp",
    "metadata.annotations",
    "status.conditions",
)
"""What the families read of each managed resource."""


def readiness(
    observed: Mapping[str, Mapping[str, Any]],
    order: Sequence[str],
    control_plane: Sequence[str],
    cluster: str,
) -> ClusterState:
    """How far a cloud cluster has come from its managed resources' conditions: initialized
    once every resource of ``control_plane`` is ready (the cluster and whatever writes the
    kubeconfig), available once every resource of ``order`` is. The message names the first
    resource not ready, with the provider's own words."""
    ready = {name: managed_ready(observed.get(name)) for name in order}
    main = observed.get(cluster) or {}
    meta = main.get("metadata") or {}
    waiting = next((name for name in order if not ready[name]), None)
    return ClusterState(
        observed=cluster in observed,
        initialized=all(ready[name] for name in control_plane),
        available=all(ready.values()),
        deleting=bool(meta.get("deletionTimestamp")),
        paused=(meta.get("annotations") or {}).get(PAUSED_ANNOTATION) == "true",
        phase="" if waiting is None else _phase(observed.get(waiting)),
        message="" if waiting is None else _message(waiting, observed.get(waiting)),
        ready=ready,
    )


def _phase(obj: Mapping[str, Any] | None) -> str:
    found = condition(obj, "Ready")
    return str((found or {}).get("reason") or ("Creating" if obj else "Pending"))


def _message(name: str, obj: Mapping[str, Any] | None) -> str:
    if obj is None:
        return f"{name} not created yet"
    failure = managed_failure(obj)
    if failure is not None:
        return f"{name} cannot sync: {failure}"
    found = condition(obj, "Ready") or {}
    detail = found.get("message") or found.get("reason") or "not ready"
    return f"{name} is not ready: {detail}"


class ManagedFamily:
    """A family of managed resources named ``order``, in the order they come up; the one named
    `naming.CLUSTER_RESOURCE` is the cluster the add-ons target, whose kubeconfig lands in the
    tenant's ``<name>-kubeconfig`` Secret. A family says what it composes in
    `compose_resources` and who owns the GPU driver in ``gpu_operator_values``."""

    order: tuple[str, ...]
    """Every resource the family composes, in the order they come up."""
    control_plane: tuple[str, ...]
    """The resources that must be ready before the API server accepts requests."""

    @property
    def observed_fields(self) -> Mapping[str, tuple[str, ...]]:
        """The same fields of every managed resource."""
        return dict.fromkeys(self.order, OBSERVED_FIELDS)

    def compose_resources(self, request: ClusterRequest) -> dict[str, dict[str, Any]]:
        """The managed resources by composition resource name."""
        raise NotImplementedError

    def compose(self, request: ClusterRequest) -> ClusterPlan:
        """The managed resources; the bundle targets the cluster."""
        return plan(
            request,
            self.compose_resources(request),
            naming.CLUSTER_RESOURCE,
            naming.kubeconfig_secret(request.name),
        )

    def readiness(self, observed: Mapping[str, Mapping[str, Any]]) -> ClusterState:
        """The managed resources' ``Ready`` conditions, in the order they come up."""
        return readiness(observed, self.order, self.control_plane, naming.CLUSTER_RESOURCE)
