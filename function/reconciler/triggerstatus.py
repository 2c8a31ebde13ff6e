"""The status of an EventTrigger, composed purely from what its reconcile established.

Per source cluster: the matching resources (the set `function.reconciler.triggerplan` keeps),
the rule's last message, and every add-on set instantiated for it with the phases its bundle
reports. One ``Ready`` condition says whether the trigger works (reason ``Evaluated``) or why
not (``InvalidSpec``, ``EventSourceNotFound``, ``InvalidEventSource``, ``InvalidRule``,
``RuleFailed``); its transition time moves only when its status, reason or message does, so an
unchanged trigger composes an unchanged status and writes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from function.errors import SpecError
from function.model.bundlestatus import READY_PHASES, AddonPhase, Condition
from function.model.common import ObjectRef, parse
from function.model.events import (
    EventTriggerStatus,
    InstantiatedAddons,
    MatchingResource,
    TriggerClusterStatus,
)
from function.model.notifications import NotificationStatus
from function.model.objects import Object, meta
from function.reconciler.instances import SOURCE_CLUSTER_LABEL
from function.reconciler.status import read_status
from function.reconciler.triggerplan import ResourceKey, from_status, instances, to_status

_ORDER = [
    AddonPhase.FAILED,
    AddonPhase.PENDING,
    AddonPhase.WAITING,
    AddonPhase.APPLIED,
    AddonPhase.HEALTHY,
]


@dataclass(frozen=True, slots=True)
class ClusterOutcome:
    """What a reconcile knows of one source cluster."""

    cluster: Object
    matching: frozenset[ResourceKey]
    message: str | None
    evaluated_at: str | None
    """When the matching set last changed (kept from the previous status otherwise)."""


def read_trigger_status(trigger: Object) -> EventTriggerStatus | None:
    """The trigger's current status, or None when it has none we can read."""
    raw = trigger.get("status")
    if not raw:
        return None
    try:
        return parse(EventTriggerStatus, raw, root="status")
    except SpecError:
        return None


def instantiated(bundle: Object, resource: MatchingResource | None) -> InstantiatedAddons:
    """One bundle of the trigger as its status entry: destinations and add-on phases."""
    status = read_status(bundle)
    destinations: list[ObjectRef] = []
    phases: dict[str, AddonPhase] = {}
    for entry in status.clusters if status else []:
        destinations.append(entry.cluster_ref)
        for addon in entry.addons:
            known = phases.get(addon.name)
            if known is None or _ORDER.index(addon.phase) < _ORDER.index(known):
                phases[addon.name] = addon.phase
    ready = bool(phases) and all(p in READY_PHASES for p in phases.values())
    return InstantiatedAddons(
        bundle=str(meta(bundle)["name"]),
        resource=resource,
        destinations=destinations,
        phases=phases,
        ready=ready,
    )


def bundles_by_source(bundles: Iterable[Object]) -> dict[str, list[Object]]:
    """A trigger's bundles by the source cluster they were made for, each list by name."""
    index: dict[str, list[Object]] = {}
    for bundle in bundles:
        source = (meta(bundle).get("labels") or {}).get(SOURCE_CLUSTER_LABEL)
        if source:
            index.setdefault(str(source), []).append(bundle)
    for mine in index.values():
        mine.sort(key=lambda b: str(meta(b)["name"]))
    return index


def cluster_entry(
    outcome: ClusterOutcome, mine: Sequence[Object], resources: dict[str, ResourceKey | None]
) -> TriggerClusterStatus:
    """The status entry of one source cluster, whose bundles are ``mine`` (by name)."""
    m = meta(outcome.cluster)
    name = str(m["name"])
    entries = []
    for bundle in mine:
        key = resources.get(str(meta(bundle)["name"]))
        entries.append(instantiated(bundle, to_status([key])[0] if key else None))
    return TriggerClusterStatus(
        cluster_ref=ObjectRef(
            api_version=str(outcome.cluster.get("apiVersion", "")),
            kind=str(outcome.cluster.get("kind", "")),
            name=name,
            namespace=str(m.get("namespace") or "") or None,
        ),
        matching_resources=to_status(outcome.matching),
        message=outcome.message,
        instantiated=entries,
        last_evaluation_time=outcome.evaluated_at,
    )


EntryCache = dict[str, tuple[Hashable, TriggerClusterStatus]]
"""Per source cluster: what its last entry was composed from, and the entry."""


def _inputs(outcome: ClusterOutcome, mine: Sequence[Object], one_for_event: bool) -> Hashable:
    """Everything `cluster_entry` reads, as a key: the same key gives the same entry (a bundle
    is the same while its resourceVersion is); None when a bundle has no resourceVersion."""
    versions = tuple(
        (str(meta(b)["name"]), str(meta(b).get("resourceVersion") or "")) for b in mine
    )
    if any(not v for _, v in versions):
        return None
    m = meta(outcome.cluster)
    return (
        str(outcome.cluster.get("apiVersion", "")),
        str(outcome.cluster.get("kind", "")),
        str(m.get("namespace") or ""),
        outcome.matching,
        outcome.message,
        outcome.evaluated_at,
        one_for_event,
        versions,
    )


def ready_condition(
    previous: EventTriggerStatus | None,
    *,
    generation: int,
    reason: str,
    message: str,
    now: str,
) -> Condition:
    """``Ready``: True when evaluated, False with the reason otherwise."""
    status = "True" if reason == "Evaluated" else "False"
    before = next((c for c in previous.conditions if c.type == "Ready"), None) if previous else None
    same = before is not None and (before.status, before.reason, before.message) == (
        status,
        reason,
        message,
    )
    return Condition(
        type="Ready",
        status=status,
        reason=reason,
        message=message,
        last_transition_time=before.last_transition_time if same and before else now,
        observed_generation=generation,
    )


def compose(
    *,
    generation: int,
    clusters: Iterable[TriggerClusterStatus],
    condition: Condition,
    notifications: Sequence[NotificationStatus] = (),
) -> EventTriggerStatus:
    """The whole status."""
    return EventTriggerStatus(
        observed_generation=generation,
        clusters=sorted(clusters, key=lambda c: c.cluster_ref.name),
        notifications=list(notifications),
        conditions=[condition],
    )


def phase_notices(
    before: EventTriggerStatus | None, after: Sequence[TriggerClusterStatus]
) -> list[tuple[str, str, bool]]:
    """(reason, message, warning) for every instantiated add-on that failed, or recovered
    from failing, between two statuses."""
    old: dict[tuple[str, str], AddonPhase] = {}
    for entry in before.clusters if before else []:
        for made in entry.instantiated:
            for addon, phase in made.phases.items():
                old[(made.bundle, addon)] = phase
    notices: list[tuple[str, str, bool]] = []
    for entry in after:
        for made in entry.instantiated:
            for addon, phase in sorted(made.phases.items()):
                was = old.get((made.bundle, addon))
                where = f"add-on {addon} of {made.bundle}"
                if phase is AddonPhase.FAILED and was is not AddonPhase.FAILED:
                    notices.append(("Failed", f"{where} failed", True))
                elif phase is AddonPhase.HEALTHY and was is AddonPhase.FAILED:
                    notices.append(("Healthy", f"{where} is healthy again", False))
    return notices


def deliveries(
    previous: Sequence[NotificationStatus], current: Mapping[str, NotificationStatus]
) -> list[NotificationStatus]:
    """The notification outcomes to report: the latest per target, by name."""
    merged = {n.name: n for n in previous} | dict(current)
    return [merged[name] for name in sorted(merged)]


def generation_of(obj: Object) -> int:
    """An object's metadata.generation (0 when unset)."""
    return int(meta(obj).get("generation") or 0)


def describe_match(rk: ResourceKey, cluster: str, message: str | None) -> str:
    """``ConfigMap monitoring/gpu-utilization on c1: <the rule's message>``."""
    _, kind, namespace, name = rk
    where = f"{namespace}/" if namespace else ""
    text = f"{kind} {where}{name} on {cluster}"
    return f"{text}: {message}" if message else text


def cluster_entries(
    trigger: str,
    outcomes: Mapping[str, ClusterOutcome | None],
    bundles: Mapping[str, Sequence[Object]],
    status: EventTriggerStatus | None,
    *,
    one_for_event: bool,
    now: str,
    cache: EntryCache | None = None,
) -> tuple[list[TriggerClusterStatus], int]:
    """Each source cluster's status entry, and how many objects match over all of them: a
    cluster not evaluated this time (None: its watches are not synced) keeps its entry; one
    whose matching set is unchanged keeps its evaluation time. ``bundles`` are the trigger's,
    by source cluster (`bundles_by_source`); an entry whose inputs are those ``cache`` holds
    for its cluster is not composed again, and ``cache`` is updated."""
    old = {c.cluster_ref.name: c for c in status.clusters} if status else {}
    entries: list[TriggerClusterStatus] = []
    total = 0
    for name, outcome in sorted(outcomes.items()):
        before = old.get(name)
        if outcome is None:
            if before is not None:
                entries.append(before)
                total += len(before.matching_resources)
            continue
        stamp = (
            before.last_evaluation_time
            if before is not None and from_status(before.matching_resources) == outcome.matching
            else now
        )
        stamped = ClusterOutcome(outcome.cluster, outcome.matching, outcome.message, stamp)
        mine = bundles.get(name, ())
        inputs = _inputs(stamped, mine, one_for_event)
        known = cache.get(name) if cache is not None else None
        if inputs is not None and known is not None and known[0] == inputs:
            entry = known[1]
        else:
            resources = instances(trigger, name, outcome.matching, one_for_event=one_for_event)
            entry = cluster_entry(stamped, mine, resources)
            if cache is not None and inputs is not None:
                cache[name] = (inputs, entry)
        entries.append(entry)
        total += len(outcome.matching)
    if cache is not None:
        for name in [n for n in cache if n not in outcomes]:
            del cache[name]
    return entries, total
