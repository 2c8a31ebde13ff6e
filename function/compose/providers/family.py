"""The one protocol every provider family implements, and the values it trades in.

A family (Cluster API, EKS, GKE, AKS through Crossplane's providers, …) is one module under
`function.compose.providers` that knows four things: which cluster objects to compose for an
XR, which fields of their observed counterparts it reads, how to read readiness from them, and
where the workload cluster's kubeconfig lands. `function.compose.pipeline` picks a family from
`function.compose.providers.FAMILIES` by ``spec.provider`` and knows nothing else about it;
`function.compose.addons` asks it who owns the GPU driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from function.compose import naming
from function.compose.sizing import PoolSize
from function.model.common import ObjectRef
from function.model.input import FunctionInput
from function.model.xr import ClusterSpec
from function.model.xrstatus import SecretKeyRef


@dataclass(frozen=True)
class ClusterRequest:
    """What a family composes from: the XR's name and tenant, its spec, the sized pool."""

    name: str
    namespace: str
    spec: ClusterSpec
    pool: PoolSize
    settings: FunctionInput


@dataclass(frozen=True)
class ClusterPlan:
    """The cluster objects of one XR, the one the add-ons target, and its kubeconfig."""

    resources: dict[str, dict[str, Any]]
    """Desired objects by composition resource name, in the order they come up."""
    ref: ObjectRef
    """The object the add-on bundle targets and the XR's status names."""
    kubeconfig: SecretKeyRef
    """Where the workload cluster's kubeconfig lands once the cluster is up."""


@dataclass(frozen=True)
class ClusterState:
    """What the observed cluster objects say about the cluster."""

    observed: bool = False
    initialized: bool = False
    """The API server accepts requests: base add-ons may start."""
    available: bool = False
    failed: bool = False
    deleting: bool = False
    paused: bool = False
    phase: str = ""
    message: str = ""
    ready: Mapping[str, bool] = field(default_factory=dict)
    """Readiness of each composed cluster object by composition resource name."""


class ProviderFamily(Protocol):
    """One way of provisioning a cluster."""

    @property
    def observed_fields(self) -> Mapping[str, tuple[str, ...]]:
        """Fields (dotted paths) of each observed composed object that `readiness` reads."""
        ...

    def compose(self, request: ClusterRequest) -> ClusterPlan:
        """The desired cluster objects; raises `function.errors.SpecError` for what the family
        cannot provision, naming the field."""
        ...

    def readiness(self, observed: Mapping[str, Mapping[str, Any]]) -> ClusterState:
        """How far the cluster has come, from the observed objects `observed_fields` names."""
        ...

    def gpu_operator_values(self, request: ClusterRequest) -> dict[str, Any]:
        """GPU operator values the node image decides (e.g. no driver where the image ships
        one); empty when the operator owns the whole stack."""
        ...


def cluster_labels(request: ClusterRequest, infrastructure: str) -> dict[str, str]:
    """Labels fleet policies select clusters by, the same for every family; the XR's own
    labels come first."""
    spec, pool = request.spec, request.pool
    return {
        **spec.labels,
        naming.LABEL_ENVIRONMENT: spec.environment.value,
        naming.LABEL_REGION: spec.region,
        naming.LABEL_TENANT: request.namespace,
        naming.LABEL_INFRASTRUCTURE: infrastructure,
        naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
        naming.LABEL_GPU_COUNT: str(pool.total_gpus),
        naming.LABEL_GPU_MEMORY: str(pool.gpu.memory_mib),
    }
