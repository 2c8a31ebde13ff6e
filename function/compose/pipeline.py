"""`compose`: the whole composition of one AIInferenceCluster, as a pure function.

Input: the observed XR (`CompositeResource`), the parts of the observed composed resources
named in `OBSERVED_FIELDS`, and the step's `FunctionInput`. Output: a `Composition` — the
desired Cluster and AddonBundle with their readiness, the XR status, its conditions and its
events. Invalid input raises `function.errors.SpecError`; `function.fn.runner` turns that into a
FATAL result. No I/O, no gRPC, no clock: the same input always composes the same output, so
the spec-dependent part (`desired_state`) is memoised by content; only readiness, status and
events are worked out afresh from the observed state on every run.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from function.compose import naming
from function.compose.addons import compose_bundle
from function.compose.delivery import DELIVERY, DeliveryPlan, DeliveryTarget
from function.compose.kinds import kind_of
from function.compose.providers import FAMILIES, ProviderFamily
from function.compose.sizing import PoolSize
from function.compose.status import (
    Condition,
    Result,
    addons_condition,
    cluster_condition,
    compose_status,
    phase_of,
    transition_results,
)
from function.errors import SpecError
from function.model import xr as xr_model
from function.model.bundle import KubeconfigSecretRef
from function.model.common import ObjectRef
from function.model.input import CloudGroups, FunctionInput
from function.model.limits import check_shape
from function.model.xr import CLOUDS, ClusterSpec
from function.model.xrstatus import SecretKeyRef


def _union(tables: Iterable[Mapping[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    """The paths of every table by name, each once, in the order first named (fields of a
    family or mode not in use are simply absent from the observed state)."""
    out: dict[str, tuple[str, ...]] = {}
    for table in tables:
        for name, paths in table.items():
            known = out.get(name, ())
            out[name] = known + tuple(p for p in paths if p not in known)
    return out


_FAMILY_FIELDS = _union(family.observed_fields for family in FAMILIES.values())
_MODE_PREFIXES = _union(mode.observed_prefixes for mode in DELIVERY.values())

OBSERVED_FIELDS: Mapping[str, tuple[str, ...]] = {
    **_FAMILY_FIELDS,
    naming.BUNDLE_RESOURCE: _MODE_PREFIXES[naming.BUNDLE_RESOURCE],
}
"""The fields (dotted paths) of each observed composed resource that composition reads: those
every provider family reads of its cluster objects, and the bundle's progress."""

OBSERVED_PREFIXES: Mapping[str, tuple[str, ...]] = {
    prefix: paths for prefix, paths in _MODE_PREFIXES.items() if prefix not in OBSERVED_FIELDS
}
"""The fields composition reads of observed resources named by a prefix: the Releases,
Objects and profiles of the other delivery modes (``release-nfd``, ``profile-tier-0``)."""


def observed_paths(name: str) -> tuple[str, ...] | None:
    """The fields composition reads of the observed resource ``name``; None if it reads none."""
    paths = OBSERVED_FIELDS.get(name)
    if paths is not None:
        return paths
    return next((p for prefix, p in OBSERVED_PREFIXES.items() if name.startswith(prefix)), None)


MEMOISED_XRS = 512
"""XRs whose desired objects are kept, keyed by name, namespace, spec and Input."""


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
    """Shared by every run of an unchanged XR (see `desired_state`): never mutate it."""
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
    """Compose the desired state of one XR from its spec and observed state."""
    desired = desired_state(
        xr.name, xr.tenant, xr.spec, settings, legacy=xr.namespace is None, kind=xr.kind
    )
    names = desired.addon_names
    cluster_seen = desired.family.readiness(observed)
    delivered = DELIVERY[settings.delivery].progress(
        desired.delivery, desired.target, cluster_seen, observed, names
    )
    addons_seen = delivered.addons
    phase = phase_of(cluster_seen, addons_seen)
    cluster_ready = cluster_condition(cluster_seen, desired.cluster_ref)
    addons_ready = addons_condition(cluster_seen, addons_seen, names)
    resources = {
        name: ComposedResource(body, cluster_seen.ready.get(name, False))
        for name, body in desired.cluster.items()
    }
    resources.update(
        (name, ComposedResource(body, ready)) for name, (body, ready) in delivered.resources.items()
    )
    return Composition(
        resources=resources,
        status=compose_status(
            phase,
            cluster_seen,
            desired.cluster_ref,
            desired.kubeconfig,
            desired.pool,
            addons_seen,
            names,
            desired.status,
        ),
        conditions=[cluster_ready, addons_ready],
        results=transition_results(xr.phase, phase, cluster_ready, addons_ready),
    )


@dataclass(frozen=True)
class DesiredState:
    """What the spec alone decides: the composed objects (shared; never mutate them)."""

    family: ProviderFamily
    """Reads the readiness of the cluster objects."""
    cluster: dict[str, dict[str, Any]]
    """The provider family's cluster objects by composition resource name."""
    cluster_ref: ObjectRef
    kubeconfig: SecretKeyRef
    target: DeliveryTarget
    delivery: DeliveryPlan
    """Every object the Input's delivery mode may emit (the AddonBundle by default)."""
    addon_names: list[str]
    pool: PoolSize | None
    status: Mapping[str, Any]
    """The XR kind's own status fields."""


def desired_state(
    name: str,
    tenant: str,
    spec: Mapping[str, Any],
    settings: FunctionInput,
    *,
    legacy: bool = False,
    kind: str = xr_model.KIND,
) -> DesiredState:
    """The desired objects of an XR; memoised by content, since Crossplane asks again for every
    XR about once a minute with nothing changed. ``legacy``: a cluster-scoped XR; ``kind``: the
    XR's kind (`function.compose.kinds.KINDS`)."""
    try:
        key = json.dumps([name, tenant, spec, legacy, kind], sort_keys=True)
        return _desired_state(_Request(key + settings.model_dump_json(), key, settings))
    except RecursionError:  # a spec nested too deep for JSON; the parser would refuse it too
        check_shape(spec, "spec")  # names the field nested too deep
        raise


@dataclass(frozen=True)
class _Request:
    """What `_desired_state` is asked: memoised by ``key`` (the XR's fields and the Input, as
    JSON), carrying the parsed Input so that a miss does not parse it again."""

    key: str
    xr: str = field(compare=False)
    settings: FunctionInput = field(compare=False)


@functools.lru_cache(maxsize=MEMOISED_XRS)
def _desired_state(request: _Request) -> DesiredState:
    name, tenant, raw_spec, legacy, kind = json.loads(request.xr)
    settings = request.settings
    workload = kind_of(kind).workload(name, tenant, raw_spec, settings)
    spec, plan, pool = workload.spec, workload.plan, workload.pool
    _check_scope(spec, settings, legacy)
    bundle, addons = compose_bundle(
        name,
        tenant,
        spec,
        pool,
        settings,
        plan.ref,
        image_values=workload.image_values,
        kubeconfig=_bundle_kubeconfig(plan.kubeconfig, plan.ref),
        wanted=workload.wanted,
        kind_values=workload.kind_values,
        kind_addons=workload.kind_addons,
    )
    target = DeliveryTarget(
        name,
        tenant,
        legacy,
        plan.ref,
        plan.kubeconfig,
        settings.sync_mode,
        extras=tuple(addon.name for addon in spec.addons.extra),
    )
    delivery = DELIVERY[settings.delivery].plan(target, bundle, addons)
    return DesiredState(
        workload.family,
        {key: _interned(body) for key, body in plan.resources.items()},
        plan.ref,
        plan.kubeconfig,
        target,
        replace(
            delivery,
            resources={key: _interned(body) for key, body in delivery.resources.items()},
        ),
        [addon.name for addon in addons],
        pool,
        workload.status,
    )


def _check_scope(spec: ClusterSpec, settings: FunctionInput, legacy: bool) -> None:
    """A namespaced XR composes namespaced resources only (Crossplane v2), so not the cloud
    providers' cluster-scoped groups."""
    if not legacy and spec.provider in CLOUDS and settings.cloud_groups is CloudGroups.LEGACY:
        raise SpecError.at(
            "input.cloudGroups",
            "a namespaced XR composes only namespaced resources; use cloudGroups: namespaced "
            "(*.m.upbound.io), or a legacy (cluster-scoped) XR for the legacy groups",
        )


def _bundle_kubeconfig(kubeconfig: SecretKeyRef, ref: ObjectRef) -> KubeconfigSecretRef | None:
    """The bundle names its kubeconfig only where the reconciler's convention (Cluster API's
    ``<name>-kubeconfig``/``value``) would not find it."""
    if (kubeconfig.name, kubeconfig.key) == (
        naming.kubeconfig_secret(ref.name),
        naming.KUBECONFIG_KEY,
    ):
        return None
    return KubeconfigSecretRef(name=kubeconfig.name, key=kubeconfig.key)


_OBJECTS: OrderedDict[str, dict[str, Any]] = OrderedDict()


def _interned(obj: dict[str, Any]) -> dict[str, Any]:
    """The one shared object of this content: an edit that leaves the bundle (or the Cluster)
    as it was keeps the very object, so its protobuf encoding is reused too."""
    key = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    found = _OBJECTS.get(key)
    if found is not None:
        _OBJECTS.move_to_end(key)
        return found
    _OBJECTS[key] = obj
    if len(_OBJECTS) > 2 * MEMOISED_XRS:
        _OBJECTS.popitem(last=False)
    return obj
