"""The status the function writes on its XRs: phase, composed cluster, GPU pool, add-ons.

Every aifleet XR kind carries `XRStatus`; each kind adds its own part (the inference
cluster's per-model sizing here, training's and edge's in their modules). Kept apart from
the XR specs (`function.model.xr`), which the function reads, since these it only writes.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from function.model.common import Spec


class Phase(StrEnum):
    """Where an inference cluster stands."""

    PROVISIONING = "Provisioning"
    INSTALLING_ADDONS = "InstallingAddons"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"


class SecretKeyRef(Spec):
    """A key of a Secret."""

    name: str = Field(description="Secret name.")
    namespace: str | None = Field(default=None, description="Secret namespace.")
    key: str = Field(description="Data key.")


class ClusterStatus(Spec):
    """The composed cluster and whether it is ready."""

    api_version: str = Field(description="API version of the cluster object.")
    kind: str = Field(description="Kind of the cluster object.")
    name: str = Field(description="Name of the cluster object.")
    namespace: str | None = Field(default=None, description="Namespace of the cluster object.")
    ready: bool = Field(description="Whether the provider reports the cluster available.")
    kubeconfig_secret_ref: SecretKeyRef = Field(description="Where the kubeconfig is written.")


class GpuStatus(Spec):
    """The GPU worker pool as sized for the models."""

    product: str = Field(description="GPU product.")
    sharing: str = Field(description="How each GPU is shared.")
    per_node: int = Field(description="Physical GPUs per node.")
    nodes: int = Field(description="GPU nodes the models need (at least minNodes).")
    total: int = Field(description="Physical GPUs in the pool.")
    allocatable_per_node: int = Field(
        description="nvidia.com/gpu each node advertises (time-slices or MIG devices)."
    )
    memory_gib: float = Field(alias="memoryGiB", description="Memory of one GPU in GiB.")


class ModelStatus(Spec):
    """How one model was sized."""

    name: str = Field(description="Model name.")
    runtime: str = Field(description="What serves the model.")
    gpus_per_replica: int = Field(description="GPUs (tensor parallel size) per replica.")
    replicas: int = Field(description="Serving replicas.")
    memory_gib: float = Field(
        alias="memoryGiB", description="Memory one replica needs: weights, KV cache, overhead."
    )


class AddonsSummary(Spec):
    """How many add-ons are ready on the cluster."""

    ready: int = Field(description="Add-ons applied and healthy.")
    total: int = Field(description="Add-ons in the bundle.")
    pending: list[str] = Field(default_factory=list, description="Add-ons not ready yet.")
    failed: list[str] = Field(default_factory=list, description="Add-ons that failed.")


class XRStatus(Spec):
    """The status every aifleet XR carries (Crossplane adds the conditions)."""

    phase: Phase = Field(description="Where the cluster stands.")
    cluster: ClusterStatus = Field(description="The composed cluster.")
    gpu: GpuStatus | None = Field(default=None, description="The GPU worker pool.")
    addons: AddonsSummary = Field(description="Add-on progress on the cluster.")


class AIInferenceClusterStatus(XRStatus):
    """The status of an inference cluster: the common one and how each model was sized."""

    models: list[ModelStatus] = Field(default_factory=list, description="Per-model sizing.")
