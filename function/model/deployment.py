"""The AIModelDeployment contract: one model to serve somewhere in the fleet, and where it went.

An application team asks for a model (the same fields as ``AIInferenceCluster.spec.models[]``)
and a replica count; placement constraints say where it may run (cluster labels, regions, GPU
products, environment), preferences say where it should run (region order, lowest cost per
GPU-hour, spread over clusters), and ``onNoCapacity`` says what happens when nothing fits:
wait, or provision a new `AIInferenceCluster`. `function.placement` decides from this spec and
the fleet's capacity; the reconciler's placement controller writes `AIModelDeploymentStatus`.
`function.model.schema` generates the CRD in ``package/`` from these classes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from function.model.bundlestatus import Condition
from function.model.common import LabelSelector, Spec, cel, parse
from function.model.xr import CapiSpec, Environment, GpuProduct, ModelSpec

GROUP = "aifleet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AIModelDeployment"
PLURAL = "aimodeldeployments"

DURATION = r"^([0-9]+(s|m|h|d))+$"
"""A duration as ``90s``, ``30m``, ``2h``, ``1d12h`` (days allowed, unlike Go's)."""
_DURATION_PART = re.compile(r"([0-9]+)(s|m|h|d)")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PROVISION_TIMEOUT = "30m"
"""How long a provisioned cluster may take to hold the model unless ``provision.timeout`` says."""


def duration_seconds(text: str) -> int:
    """``1h30m`` → 5400."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


class OnNoCapacity(StrEnum):
    """What happens when no cluster of the fleet can hold the deployment."""

    WAIT = "Wait"
    PROVISION = "Provision"


class Constraints(Spec):
    """Where the model may run; every constraint must hold."""

    cluster_selector: LabelSelector | None = Field(
        default=None, description="Labels a cluster must have."
    )
    regions: list[str] = Field(
        default_factory=list, description="Regions allowed; empty allows every region."
    )
    gpu_products: list[GpuProduct] = Field(
        default_factory=list, description="GPU products allowed; empty allows every product."
    )
    environment: Environment | None = Field(
        default=None, description="The environment label a cluster must carry."
    )


class Preferences(Spec):
    """Where the model should run, among the clusters that may run it."""

    regions: list[str] = Field(
        default_factory=list,
        description="Regions in order of preference (latency); earlier is better.",
    )
    lowest_cost: bool = Field(
        default=True, description="Prefer the lowest cost per GPU-hour of a replica."
    )
    spread: bool = Field(
        default=False,
        description="Spread replicas over clusters instead of packing them onto the best one.",
    )


class ProvisionSpec(Spec):
    """The AIInferenceCluster composed when nothing fits and onNoCapacity is Provision."""

    capi: CapiSpec = Field(description="Cluster API settings of the new cluster.")
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Region of the new cluster; defaults to the first preferred or allowed one.",
    )
    gpu_product: GpuProduct | None = Field(
        default=None,
        description="GPU product of the new cluster; defaults to the cheapest allowed one "
        "the model fits on.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels of the new cluster."
    )
    timeout: str = Field(
        default=PROVISION_TIMEOUT,
        pattern=DURATION,
        description="How long the new cluster may take to hold the model. Past it the "
        "deployment reports ProvisioningTimedOut with the cluster's own reason (condition, "
        "Warning event) and keeps waiting for it.",
    )


class AIModelDeploymentSpec(Spec):
    """A model to serve on whichever clusters of the fleet fit it best."""

    CEL = (
        cel(
            "!has(self.onNoCapacity) || self.onNoCapacity != 'Provision' || has(self.provision)",
            "provision is required with onNoCapacity: Provision",
            ".provision",
        ),
    )

    model: ModelSpec = Field(
        description="The model, with the fields of AIInferenceCluster.spec.models[]; its "
        "replicas field is not read: spec.replicas counts replicas over the fleet."
    )
    replicas: int = Field(default=1, ge=1, le=256, description="Replicas over the whole fleet.")
    placement: Constraints = Field(
        default_factory=Constraints, description="Where the model may run."
    )
    preferences: Preferences = Field(
        default_factory=Preferences, description="Where the model should run."
    )
    ttl: str | None = Field(
        default=None,
        pattern=DURATION,
        description="Tear the deployment down this long after it was created, e.g. 2h.",
    )
    idle_after: str | None = Field(
        default=None,
        pattern=DURATION,
        description="Tear the deployment down after this long without a traffic signal.",
    )
    on_no_capacity: OnNoCapacity = Field(
        default=OnNoCapacity.WAIT,
        description="Wait for capacity, or provision an AIInferenceCluster sized for the model.",
    )
    provision: ProvisionSpec | None = Field(
        default=None, description="The cluster to provision; required with onNoCapacity: Provision."
    )
    reclaim_provisioned: bool = Field(
        default=False,
        description="Delete a cluster provisioned for this deployment when it leaves it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.on_no_capacity is OnNoCapacity.PROVISION and self.provision is None:
            raise ValueError("provision is required with onNoCapacity: Provision")
        return self


def parse_deployment_spec(data: Any, *, root: str = "spec") -> AIModelDeploymentSpec:
    """Parse an AIModelDeployment's spec; raise `SpecError` naming every bad field."""
    return parse(AIModelDeploymentSpec, data, root=root)


# --- status: written by the placement controller --------------------------------------------


class DeploymentPhase(StrEnum):
    """Where a model deployment stands."""

    PENDING = "Pending"  # nothing fits and onNoCapacity is Wait
    PLACING = "Placing"  # placed; the model add-on is on its way to the cluster(s)
    PROVISIONING = "Provisioning"  # an AIInferenceCluster is being provisioned for it
    SERVING = "Serving"  # every placed replica is healthy
    EXPIRED = "Expired"  # ttl or idleAfter passed; the model was withdrawn


class PlacementStatus(Spec):
    """One cluster the model was placed on."""

    cluster: str = Field(description="namespace/name of the cluster.")
    replicas: int = Field(description="Replicas on this cluster.")
    gpu_product: str = Field(description="GPU product the replicas run on.")
    gpus_per_replica: int = Field(description="GPUs (tensor parallel size) per replica.")
    nodes: dict[str, int] = Field(
        default_factory=dict,
        description="Replicas per node as placed: the GPUs reserved there until pods run.",
    )
    endpoint: str | None = Field(
        default=None, description="In-cluster URL of the served model once it is healthy."
    )
    ready: bool = Field(default=False, description="Whether the model add-on is healthy there.")


class CandidateStatus(Spec):
    """Why a cluster was or was not chosen."""

    cluster: str = Field(description="namespace/name of the cluster.")
    score: float | None = Field(default=None, description="Score when eligible; higher wins.")
    reason: str = Field(description="Why this cluster, or why not.")


class AIModelDeploymentStatus(Spec):
    """The status the placement controller writes."""

    observed_generation: int | None = Field(default=None, description="Generation acted on.")
    phase: DeploymentPhase = Field(description="Where the deployment stands.")
    placements: list[PlacementStatus] = Field(
        default_factory=list, description="Clusters the model was placed on."
    )
    gpus_held: int = Field(default=0, description="GPUs the placed replicas hold.")
    cluster: str | None = Field(default=None, description="The first placement's cluster.")
    endpoint: str | None = Field(default=None, description="The first placement's endpoint.")
    message: str = Field(default="", description="The placement decision in one line.")
    candidates: list[CandidateStatus] = Field(
        default_factory=list, description="Every cluster considered, with its reason."
    )
    provisioned: str | None = Field(
        default=None, description="namespace/name of the AIInferenceCluster provisioned for it."
    )
    expires_at: str | None = Field(default=None, description="When the ttl runs out.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Placed, Serving, and Provisioned once provisioned for."
    )
