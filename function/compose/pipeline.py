"""`compose`: the whole composition of one AIInferenceCluster, as a pure function.

Input: the observed XR (`CompositeResource`), the parts of the observed composed resources
named in `OBSERVED_FIELDS`, and the step's `FunctionInput`. Output: a `Composition` — the
desired Cluster and AddonBundle with their readiness, the XR status, its conditions and its
events. Invalid input raises `function.errors.SpecError`; `function.fn` turns that into a
FATAL result. No I/O, no gRPC, no clock: the same input always composes the same output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from function.compose import naming
from function.compose.addons import compose_bundle
from function.compose.cluster import KIND as CLUSTER_KIND
from function.compose.cluster import compose_cluster
from function.compose.readiness import addons_state, cluster_state
from function.compose.serving import check_model_sources
from function.compose.sizing import size_pool
from function.compose.status import (
    Condition,
    Result,
    addons_condition,
    cluster_condition,
    compose_status,
    phase_of,
    transition_results,
)
from function.model.common import ObjectRef
from function.model.input import FunctionInput
from function.model.xr import parse_xr_spec

OBSERVED_FIELDS: Mapping[str, tuple[str, ...]] = {
    naming.CLUSTER_RESOURCE: ("metadata", "spec", "status"),
    naming.BUNDLE_RESOURCE: ("metadata", "status"),
}
"""The top-level fields of each observed composed resource that composition reads."""


@dataclass(frozen=True)
class CompositeResource:
    """The observed XR, as far as composition reads it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    """Set for namespaced (Crossplane v2) XRs; legacy XRs are cluster-scoped."""
    labels: Mapping[str, str] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    phase: str = ""
    """``status.phase`` recorded by the previous run."""

    @property
    def tenant(self) -> str:
        """The namespace the cluster belongs to: the XR's, else its claim's."""
        if self.namespace:
            return self.namespace
        claim_ref = self.spec.get("claimRef") or {}
        return (
            self.labels.get(naming.CLAIM_NAMESPACE_LABEL)
            or claim_ref.get("namespace")
            or naming.DEFAULT_NAMESPACE
        )


@dataclass(frozen=True)
class ComposedResource:
    """A desired composed resource and whether its observed counterpart is ready."""

    body: dict[str, Any]
    ready: bool


@dataclass(frozen=True)
class Composition:
    """Everything one run decides."""

    resources: dict[str, ComposedResource]
    """Desired composed resources by composition resource name."""
    status: dict[str, Any]
    conditions: list[Condition]
    results: list[Result]


def compose(
    xr: CompositeResource,
    observed: Mapping[str, Mapping[str, Any]],
    settings: FunctionInput,
) -> Composition:
    """Compose the desired state of one inference cluster from its spec and observed state."""
    spec = parse_xr_spec(xr.spec)
    check_model_sources(spec.models)
    pool = size_pool(spec)
    tenant = xr.tenant
    cluster = compose_cluster(xr.name, tenant, spec, pool, settings.capi_api_version)
    cluster_ref = ObjectRef(
        api_version=cluster["apiVersion"], kind=CLUSTER_KIND, name=xr.name, namespace=tenant
    )
    bundle, names = compose_bundle(xr.name, tenant, spec, pool, settings, cluster_ref)

    cluster_seen = cluster_state(observed.get(naming.CLUSTER_RESOURCE))
    addons_seen = addons_state(observed.get(naming.BUNDLE_RESOURCE), xr.name, names)
    phase = phase_of(cluster_seen, addons_seen)
    cluster_ready = cluster_condition(cluster_seen, cluster_ref)
    addons_ready = addons_condition(cluster_seen, addons_seen, names)
    return Composition(
        resources={
            naming.CLUSTER_RESOURCE: ComposedResource(cluster, cluster_seen.available),
            naming.BUNDLE_RESOURCE: ComposedResource(bundle, addons_seen.all_ready),
        },
        status=compose_status(phase, cluster_seen, cluster_ref, pool, addons_seen, names),
        conditions=[cluster_ready, addons_ready],
        results=transition_results(xr.phase, phase, cluster_ready, addons_ready),
    )
