"""The one protocol every XR kind implements: from its spec to the cluster and its workload.

An XR kind (AIInferenceCluster, AITrainingCluster, EdgeAICluster) parses its own spec, sizes
its GPU pool for its own workload, picks the provider family that provisions the cluster, and
names the catalog add-ons, per-kind values and add-ons of its own that the bundle carries. The
rest — delivery, readiness, status, events — is the same for every kind and stays in
`function.compose.pipeline`. `function.compose.kinds.KINDS` is the table by kind name;
`provisioned` is the workload of a kind whose cluster the family of ``spec.provider`` composes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from function.compose.providers import FAMILIES
from function.compose.providers.family import ClusterPlan, ClusterRequest, ProviderFamily
from function.compose.sizing import PoolSize
from function.model.bundle import AddonSpec
from function.model.input import FunctionInput
from function.model.xr import ClusterSpec


@dataclass(frozen=True)
class Workload:
    """What an XR kind decides from its spec alone."""

    spec: ClusterSpec
    family: ProviderFamily
    """Reads the readiness of the cluster objects in ``plan``."""
    plan: ClusterPlan
    pool: PoolSize | None
    """The GPU pool; None for a site without GPUs."""
    image_values: Mapping[str, Any] = field(default_factory=dict)
    """GPU operator values the node image decides."""
    wanted: tuple[str, ...] | None = None
    """Catalog add-ons the kind installs; None: the GPU base and the models' serving stacks."""
    kind_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Values of the kind's own per catalog add-on."""
    kind_addons: tuple[AddonSpec, ...] = ()
    """Add-ons of the kind's own, after the catalog's (besides inference models)."""
    status: Mapping[str, Any] = field(default_factory=dict)
    """Status fields of the kind's own (how its workload was sized)."""


def provisioned(
    name: str,
    namespace: str,
    spec: ClusterSpec,
    pool: PoolSize,
    settings: FunctionInput,
    *,
    status: Mapping[str, Any],
    wanted: tuple[str, ...] | None = None,
) -> Workload:
    """The workload on the cluster the family of ``spec.provider`` composes for ``pool``, with
    the GPU operator values its node image decides, the catalog add-ons ``wanted`` and the
    kind's own ``status``."""
    family = FAMILIES[spec.provider]
    request = ClusterRequest(name, namespace, spec, pool, settings)
    return Workload(
        spec,
        family,
        family.compose(request),
        pool,
        image_values=family.gpu_operator_values(request),
        wanted=wanted,
        status=status,
    )


class XRKind(Protocol):
    """One kind of XR the function composes."""

    @property
    def kinds(self) -> tuple[str, ...]:
        """The XR kind and its legacy (Crossplane 1.x) composite kind."""
        ...

    def workload(self, name: str, namespace: str, spec: Any, settings: FunctionInput) -> Workload:
        """Parse ``spec`` and decide the cluster and its workload; raises `SpecError`."""
        ...
