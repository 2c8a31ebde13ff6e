"""What the fleet's deployments hold, reserve and owe, read from their statuses: pure.

A placement promises GPUs on named nodes (``status.placements[].nodes``) before its pods run.
`ledger` turns every deployment's placements, and the GPUs its own running pods already
request on each node, into the `Reservation`s other deployments must not take (promised but
not yet requested) and the holdings a deployment gets back when it is placed again (requested
by its own pods, so counted in the nodes' ``requested``). `assignments_of` reads a status back
into the `Assignment`s placement keeps stable. `deadline` says when ``ttl`` or ``idleAfter``
runs out; `endpoint_of` names the in-cluster URL of the served model; `stack_provided` says
whether some other bundle already brings a runtime's serving stack to a cluster (its charts,
under any add-on name, repository or version, through a ``clusterRef`` or a ``clusterSelector``
matching the cluster's labels), from the namespace's bundles read once by `stack_sources`: a
namespace's stacks are decided for every placement on every cluster at a time, so each bundle's
charts and selector are read once, not once per placement, and a selector value is parsed once
(`cluster_selector` memoises it: the answer depends on the value alone). The placement
controller (`function.reconciler.deployments`) reads the world; this module only reckons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from function.catalog.addons import CATALOG, SERVING, model_addon_name
from function.model.common import LabelSelector
from function.model.deployment import (
    AIModelDeploymentSpec,
    AIModelDeploymentStatus,
    duration_seconds,
)
from function.model.sync import SyncMode
from function.model.xr import Runtime
from function.placement.capacity import Reservation
from function.placement.decide import Assignment


@dataclass(frozen=True)
class Placed:
    """One deployment's placements and the GPUs its running pods request, per cluster."""

    deployment: str
    status: AIModelDeploymentStatus
    requested: Mapping[str, Mapping[str, int]]
    """cluster → node → GPUs requested by the deployment's running pods."""


def assignments_of(status: AIModelDeploymentStatus | None) -> tuple[Assignment, ...]:
    """The placements a status records, as placement's `Assignment`s."""
    if status is None:
        return ()
    return tuple(
        Assignment(
            p.cluster,
            p.gpu_product,
            p.gpus_per_replica,
            p.replicas,
            tuple(sorted(p.nodes.items())),
        )
        for p in status.placements
    )


def ledger(placed: Iterable[Placed]) -> tuple[tuple[Reservation, ...], tuple[Reservation, ...]]:
    """(reservations, holdings) of every deployment: promised-but-not-requested GPUs per node,
    and GPUs requested by the deployment's own pods per node."""
    reservations: list[Reservation] = []
    holdings: list[Reservation] = []
    for entry in sorted(placed, key=lambda p: p.deployment):
        for placement in entry.status.placements:
            requested = entry.requested.get(placement.cluster, {})
            for node, gpus in sorted(requested.items()):
                if gpus:
                    holdings.append(Reservation(entry.deployment, placement.cluster, node, gpus))
            for node, replicas in sorted(placement.nodes.items()):
                owed = replicas * placement.gpus_per_replica - requested.get(node, 0)
                if owed > 0:
                    reservations.append(
                        Reservation(entry.deployment, placement.cluster, node, owed)
                    )
    return tuple(reservations), tuple(holdings)


def deadline(
    spec: AIModelDeploymentSpec, created: datetime, last_traffic: datetime | None
) -> tuple[datetime, str] | None:
    """When the deployment expires and why, or None when it never does."""
    ends: list[tuple[datetime, str]] = []
    if spec.ttl:
        ends.append((created + timedelta(seconds=duration_seconds(spec.ttl)), f"ttl {spec.ttl}"))
    if spec.idle_after:
        since = max(created, last_traffic) if last_traffic else created
        idle = timedelta(seconds=duration_seconds(spec.idle_after))
        ends.append((since + idle, f"idleAfter {spec.idle_after} without traffic"))
    return min(ends) if ends else None


ENGINE_PORT = 80
"""The service port of the vllm-stack chart's engine Service."""


def endpoint_of(spec: AIModelDeploymentSpec) -> str:
    """The in-cluster URL of the served model's OpenAI-compatible API."""
    model = spec.model
    namespace = SERVING[model.runtime].model_namespace
    if model.runtime is Runtime.VLLM:
        release = model_addon_name(model.name)
        service = f"{release}-{model.name}-engine-service"
        return f"http://{service}.{namespace}.svc:{ENGINE_PORT}/v1"
    return f"http://{model.name}-predictor.{namespace}.svc/v1"


@dataclass(frozen=True, slots=True)
class StackSource:
    """What decides where a bundle brings serving stacks, read once from it: its Helm charts and
    the cluster its ``clusterRef`` names or its ``clusterSelector``, parsed."""

    bundle: str
    """``namespace/name`` of the bundle."""
    namespace: Any
    """Its namespace, where a ``clusterSelector`` picks clusters."""
    charts: frozenset[str]
    """The chart names of its Helm add-ons."""
    cluster: tuple[Any, Any] | None
    """(namespace, name) its ``clusterRef`` names; None when it has a ``clusterSelector``."""
    selector: LabelSelector | None
    """Its ``clusterSelector``, parsed; None with a ``clusterRef``, or when the selector does not
    parse (it picks no cluster)."""


@dataclass(frozen=True, slots=True)
class StackSources:
    """Bundles that may bring serving stacks (`stack_sources`): those naming a cluster by it,
    the ones with a ``clusterSelector`` apart, so a cluster is looked up, not searched for."""

    by_cluster: Mapping[tuple[Any, Any], tuple[StackSource, ...]]
    selecting: tuple[StackSource, ...]


def stack_sources(bundles: Iterable[Mapping[str, Any]]) -> StackSources:
    """The bundles among ``bundles`` that apply Helm charts (not being deleted, not a DryRun:
    one plans what it would apply, applies nothing), read once for `stack_provided`."""
    by_cluster: dict[tuple[Any, Any], list[StackSource]] = {}
    selecting: list[StackSource] = []
    for bundle in bundles:
        m = bundle.get("metadata") or {}
        spec = bundle.get("spec") or {}
        if m.get("deletionTimestamp") or spec.get("syncMode") == SyncMode.DRY_RUN.value:
            continue
        charts = frozenset(helm_charts(spec.get("addons") or []))
        if not charts:
            continue
        ident = f"{m.get('namespace')}/{m.get('name')}"
        if "clusterSelector" in spec:
            selector = cluster_selector(spec.get("clusterSelector"))
            selecting.append(StackSource(ident, m.get("namespace"), charts, None, selector))
            continue
        ref = spec.get("clusterRef") or {}
        cluster = (ref.get("namespace") or m.get("namespace"), ref.get("name"))
        source = StackSource(ident, m.get("namespace"), charts, cluster, None)
        by_cluster.setdefault(cluster, []).append(source)
    return StackSources({c: tuple(s) for c, s in by_cluster.items()}, tuple(selecting))


def stack_provided(
    runtime: Runtime,
    cluster: str,
    sources: StackSources,
    *,
    exclude: str,
    labels: Mapping[str, str] | None = None,
) -> bool:
    """Whether a bundle of ``sources`` other than ``exclude`` (``namespace/name``) serves the
    runtime's whole stack on ``cluster`` (``namespace/name`` of a Cluster API Cluster, whose
    current ``labels`` are given; None: it is not listed).

    A bundle reaches the cluster by its ``clusterRef``, or by a ``clusterSelector`` when it
    is in the cluster's namespace and the selector matches the labels, as its targets are
    resolved (`selects`).

    A bundle serves it when it applies (its mode writes: not a DryRun) a Helm add-on of each
    of the stack's charts, by chart name: whatever the add-on is called, the repository it is
    fetched from (a mirror, an offline directory) or the version (an environment's pin), it
    installs the same objects, which a stack bundle of the placement controller would only
    contend for. An add-on that merely bears a stack add-on's name (its own manifests, another
    chart) serves nothing of it."""
    stack = stack_charts(runtime)
    namespace, name = cluster.split("/", 1)
    for source in sources.by_cluster.get((namespace, name), ()):
        if source.bundle != exclude and stack <= source.charts:
            return True
    return any(
        source.bundle != exclude
        and stack <= source.charts
        and selects(source.namespace, source.selector, namespace, labels)
        for source in sources.selecting
    )


def selects(
    bundle_namespace: Any,
    selector: LabelSelector | None,
    namespace: str,
    labels: Mapping[str, str] | None,
) -> bool:
    """Whether a bundle of ``bundle_namespace`` whose ``clusterSelector`` is ``selector`` (None:
    it does not parse) picks a Cluster API Cluster of ``namespace`` whose labels are ``labels``
    (None: no such cluster listed): the selector picks the clusters of the bundle's own
    namespace whose labels it matches (`LabelSelector.matches`, as the reconciler resolves
    targets); one that does not parse picks none (the bundle is refused)."""
    if labels is None or selector is None or bundle_namespace != namespace:
        return False
    return selector.matches(labels)


_SELECTORS: dict[str, LabelSelector | None] = {}
_MAX_SELECTORS = 4096


def cluster_selector(value: Any) -> LabelSelector | None:
    """A bundle's ``clusterSelector`` as stored, parsed (None: it does not parse). Memoised by
    its value: the fleet's bundles share few selectors, and a selector changed is another
    value, parsed anew."""
    key = repr(value)
    try:
        return _SELECTORS[key]
    except KeyError:
        pass
    try:
        selector: LabelSelector | None = LabelSelector.model_validate(value or {})
    except ValidationError:
        selector = None
    if len(_SELECTORS) >= _MAX_SELECTORS:
        _SELECTORS.clear()
    _SELECTORS[key] = selector
    return selector


def stack_charts(runtime: Runtime) -> frozenset[str]:
    """The names of the charts of ``runtime``'s serving stack."""
    return frozenset(CATALOG[name].chart.chart for name in SERVING[runtime].stack)


def helm_charts(addons: Iterable[Any]) -> set[str]:
    """The chart names of the Helm add-ons among ``addons`` (as a bundle's manifest has them)."""
    charts: set[str] = set()
    for addon in addons:
        helm = addon.get("helm") if isinstance(addon, Mapping) else None
        if isinstance(helm, Mapping) and isinstance(helm.get("chart"), str):
            charts.add(helm["chart"])
    return charts
