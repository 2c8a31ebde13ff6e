"""A bundle's status from what its targets found, and the transitions worth an Event (pure).

The reconciler keeps one `ClusterAddonsStatus` per target in memory; `compose_status` turns
them into the bundle's status with its `Ready` and `Synced` conditions, keeping condition
transition times when nothing changed so an unchanged world writes nothing. `transitions`
compares two statuses and names each add-on whose phase changed, for Kubernetes Events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from function.errors import SpecError
from function.model.bundle import AddonBundleSpec
from function.model.bundlestatus import (
    READY_PHASES,
    AddonBundleStatus,
    AddonPhase,
    AddonStatus,
    ClusterAddonsStatus,
    Condition,
    DriftStatus,
    RolloutStatus,
    entry_key,
    keyed,
)
from function.model.common import ObjectRef, parse
from function.model.objects import Object
from function.reconciler.failures import FAILURE_REASONS, Failure
from function.reconciler.plan import cap_status_plans
from function.reconciler.store import GroupKind, ObjectId


@dataclass(frozen=True, slots=True)
class Transition:
    """An add-on whose phase (or failure reason) changed on a cluster."""

    cluster: str
    addon: str
    old: AddonPhase | None
    new: AddonPhase
    message: str
    cause: str | None = None
    """The add-on's failure reason (`function.reconciler.failures.Reason`), if any."""

    @property
    def warning(self) -> bool:
        """Failures, and add-ons held back by a transient one, are Warning events."""
        return self.new is AddonPhase.FAILED or self.cause in FAILURE_REASONS

    @property
    def reason(self) -> str:
        """The Event reason: the failure reason (``TemplateFailed``), else ``AddonHealthy``..."""
        return self.cause or f"Addon{self.new.value}"

    def describe(self) -> str:
        """The Event message."""
        text = f"add-on {self.addon} on {self.cluster}: {self.new.value}"
        return f"{text}: {self.message}" if self.message else text


def read_status(bundle: Object) -> AddonBundleStatus | None:
    """The bundle's current status, or None when it has none (or one we cannot read)."""
    raw = bundle.get("status")
    if not raw:
        return None
    try:
        return parse(AddonBundleStatus, raw, root="status")
    except SpecError:
        return None


def cluster_ready(addons: Sequence[AddonStatus]) -> bool:
    """Whether every add-on on a cluster is done (healthy, or applied without checks)."""
    return bool(addons) and all(a.phase in READY_PHASES for a in addons)


def compose_status(
    *,
    generation: int | None,
    clusters: Iterable[ClusterAddonsStatus],
    spec_error: str | None,
    no_targets: str | None,
    previous: AddonBundleStatus | None,
    now: str,
    writes: bool = True,
    rollout: RolloutStatus | None = None,
) -> AddonBundleStatus:
    """The status to write. ``no_targets`` explains an empty target set; ``rollout`` is where
    a ``maxUpdate`` rollout stands (not Ready while clusters wait or one failed). DryRun
    plans are cut to fit in status (`function.reconciler.plan.cap_status_plans`)."""
    ordered = cap_status_plans(
        sorted(
            map(keyed, clusters),
            key=lambda c: (c.cluster_ref.namespace or "", c.cluster_ref.name),
        )
    )
    ready = _ready(ordered, spec_error, no_targets, generation)
    synced = _synced(ordered, spec_error)
    if not writes and spec_error is None:
        ready = Condition(
            type="Ready",
            status="False",
            reason="DryRun",
            message="dry run: nothing is applied; each add-on's message says what would change"
            + _cut(ordered),
        )
    if (
        rollout is not None
        and spec_error is None
        and (rollout.waiting_clusters or rollout.failed_clusters)
    ):
        reason = "RolloutHalted" if rollout.failed_clusters else "RollingOut"
        ready = Condition(
            type="Ready", status="False", reason=reason, message=rollout.message or ""
        )
    old = {c.type: c for c in (previous.conditions if previous else [])}
    conditions = [_stamp(c, old.get(c.type), now, generation) for c in (ready, synced)]
    return AddonBundleStatus(
        observed_generation=generation, clusters=ordered, conditions=conditions, rollout=rollout
    )


NOTABLE = frozenset({AddonPhase.HEALTHY, AddonPhase.APPLIED, AddonPhase.FAILED})
"""Phases worth an Event when an add-on reaches them; the steps between are in status."""


def transitions(old: AddonBundleStatus | None, new: AddonBundleStatus) -> list[Transition]:
    """Add-ons that reached a `NOTABLE` phase, or a new failure reason, between ``old`` and
    ``new``."""
    before = {
        (_cluster_name(c), a.name): (a.phase, a.reason)
        for c in (old.clusters if old else [])
        for a in c.addons
    }
    changes = []
    for cluster in new.clusters:
        for addon in cluster.addons:
            phase, reason = before.get((_cluster_name(cluster), addon.name), (None, None))
            moved = phase is not addon.phase and addon.phase in NOTABLE
            failing = addon.reason in FAILURE_REASONS and reason != addon.reason
            if moved or failing:
                changes.append(
                    Transition(
                        _cluster_name(cluster),
                        addon.name,
                        phase,
                        addon.phase,
                        addon.message or "",
                        addon.reason,
                    )
                )
    return changes


def drift_corrections(
    old: AddonBundleStatus | None, new: AddonBundleStatus
) -> list[tuple[str, int]]:
    """(cluster, how many objects) for each cluster whose drift count grew."""
    before = {_cluster_name(c): c.drift.count for c in (old.clusters if old else []) if c.drift}
    return [
        (_cluster_name(c), c.drift.count - before.get(_cluster_name(c), 0))
        for c in new.clusters
        if c.drift is not None and c.drift.count > before.get(_cluster_name(c), 0)
    ]


def _ready(
    clusters: Sequence[ClusterAddonsStatus],
    spec_error: str | None,
    no_targets: str | None,
    generation: int | None,
) -> Condition:
    if spec_error is not None:
        return Condition(type="Ready", status="False", reason="InvalidSpec", message=spec_error)
    if not clusters:
        return Condition(
            type="Ready", status="False", reason="NoClusters", message=no_targets or ""
        )
    addons = [a for c in clusters for a in c.addons]
    done = sum(a.phase in READY_PHASES for a in addons)
    summary = f"{done}/{len(addons)} add-ons ready on {len(clusters)} cluster(s)"
    behind = [c for c in clusters if _behind(c, generation)]
    if behind:  # another replica has yet to converge this generation on its clusters
        message = f"{summary}; {len(behind)} cluster(s) not yet at generation {generation}"
        return Condition(type="Ready", status="False", reason="AddonsPending", message=message)
    if all(c.ready for c in clusters):
        return Condition(type="Ready", status="True", reason="AddonsReady", message=summary)
    failed = any(a.phase is AddonPhase.FAILED for a in addons)
    reason = "AddonsFailed" if failed else "AddonsPending"
    return Condition(type="Ready", status="False", reason=reason, message=summary)


def _cut(clusters: Sequence[ClusterAddonsStatus]) -> str:
    """A DryRun note of how many add-ons' plans are cut to fit in status, if any."""
    cut = sum(a.plan_truncated is not None for c in clusters for a in c.addons)
    return (
        f"; {cut} add-on plan(s) cut to fit in status (planTruncated counts the rest)"
        if cut
        else ""
    )


def _behind(cluster: ClusterAddonsStatus, generation: int | None) -> bool:
    seen = cluster.observed_generation
    return seen is not None and generation is not None and seen < generation


def _synced(clusters: Sequence[ClusterAddonsStatus], spec_error: str | None) -> Condition:
    if spec_error is not None:
        return Condition(type="Synced", status="False", reason="InvalidSpec", message=spec_error)
    for cluster in clusters:
        for addon in cluster.addons:
            if addon.phase is AddonPhase.FAILED or addon.reason in FAILURE_REASONS:
                message = f"add-on {addon.name} on {_cluster_name(cluster)}: {addon.message}"
                reason = addon.reason or "AddonFailed"
                return Condition(type="Synced", status="False", reason=reason, message=message)
    return Condition(type="Synced", status="True", reason="ReconcileSuccess")


def _stamp(
    condition: Condition, old: Condition | None, now: str, generation: int | None
) -> Condition:
    # As metav1.Condition: the transition time moves only when the status flips.
    flipped = old is None or old.status != condition.status or not old.last_transition_time
    when = now if flipped or old is None else old.last_transition_time
    return condition.model_copy(
        update={"last_transition_time": when, "observed_generation": generation}
    )


def _cluster_name(cluster: ClusterAddonsStatus) -> str:
    ref = cluster.cluster_ref
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name


def pending_addon(name: str, before: Mapping[str, AddonStatus], message: str) -> AddonStatus:
    """Pending, keeping what is known of earlier applies (hash, kinds, counts)."""
    previous = before.get(name)
    if previous is None:
        return AddonStatus(name=name, phase=AddonPhase.PENDING, message=message)
    update = {"phase": AddonPhase.PENDING, "message": message, "reason": None}
    return previous.model_copy(update=update)


def failed_addon(
    name: str,
    input_hash: str | None,
    previous: AddonStatus | None,
    message: str,
    reason: str | None = None,
) -> AddonStatus:
    """Failed, with why; what an earlier apply left (kinds, counts) is kept for cleanup."""
    return AddonStatus(
        name=name,
        phase=AddonPhase.FAILED,
        hash=input_hash,
        resources=previous.resources if previous else 0,
        kinds=previous.kinds if previous else [],
        message=message,
        reason=reason,
        last_applied_time=last_applied(previous),
    )


def held_addon(
    name: str, before: Mapping[str, AddonStatus], failure: Failure, *, rerender: bool
) -> AddonStatus:
    """Waiting on a transient failure, with its reason, keeping what earlier applies left;
    ``rerender`` forgets the input hash so that the next pass renders again."""
    previous = before.get(name)
    update: dict[str, object] = {
        "phase": AddonPhase.WAITING,
        "message": failure.message,
        "reason": failure.reason.value,
    }
    if rerender:
        update["hash"] = None
    if previous is None:
        return AddonStatus.model_validate({"name": name, **update})
    return previous.model_copy(update=update)


def last_applied(previous: AddonStatus | None) -> str | None:
    """When the add-on was last written to, if ever."""
    return previous.last_applied_time if previous else None


def all_pending(
    ref: ObjectRef,
    spec: AddonBundleSpec,
    previous: ClusterAddonsStatus | None,
    message: str,
) -> ClusterAddonsStatus:
    """Every add-on waiting for the same reason (the cluster), keeping what is known."""
    before = {a.name: a for a in (previous.addons if previous else [])}
    addons = {a.name: pending_addon(a.name, before, message) for a in spec.addons}
    return cluster_status(ref, spec, addons, previous.drift if previous else None)


def all_held(
    ref: ObjectRef,
    spec: AddonBundleSpec,
    previous: ClusterAddonsStatus | None,
    failure: Failure,
) -> ClusterAddonsStatus:
    """Every add-on waiting on the same transient failure (the cluster does not answer);
    add-ons the bundle no longer has stay listed, to be withdrawn once it answers."""
    before = {a.name: a for a in (previous.addons if previous else [])}
    addons = {a.name: held_addon(a.name, before, failure, rerender=False) for a in spec.addons}
    status = cluster_status(ref, spec, addons, previous.drift if previous else None)
    leaving = [held_addon(n, before, failure, rerender=False) for n in before if n not in addons]
    return status.model_copy(update={"addons": [*status.addons, *leaving]}) if leaving else status


def all_failed(
    ref: ObjectRef,
    spec: AddonBundleSpec,
    previous: ClusterAddonsStatus | None,
    message: str,
) -> ClusterAddonsStatus:
    """Every add-on failed for the same reason, keeping what is known of earlier applies."""
    before = {a.name: a for a in (previous.addons if previous else [])}
    addons = {a.name: failed_addon(a.name, None, before.get(a.name), message) for a in spec.addons}
    return cluster_status(ref, spec, addons, previous.drift if previous else None)


def cluster_status(
    ref: ObjectRef,
    spec: AddonBundleSpec,
    addons: Mapping[str, AddonStatus],
    drift: DriftStatus | None = None,
) -> ClusterAddonsStatus:
    """A cluster's entry: its add-ons in the bundle's order, and whether all are done."""
    ordered = [addons[a.name] for a in spec.addons if a.name in addons]
    return ClusterAddonsStatus(
        key=entry_key(ref),
        cluster_ref=ref,
        ready=cluster_ready(ordered),
        addons=ordered,
        drift=drift,
    )


def cluster_ref(cluster_id: ObjectId, cluster: Object | None, spec: AddonBundleSpec) -> ObjectRef:
    """How status names a target cluster: as served, else as the bundle names it."""
    if cluster is not None:
        api_version = str(cluster["apiVersion"])
    elif spec.cluster_ref is not None:
        api_version = spec.cluster_ref.api_version
    else:
        api_version = f"{cluster_id.gk.group}/v1beta2"
    return ObjectRef(
        api_version=api_version,
        kind=cluster_id.gk.kind,
        name=cluster_id.name,
        namespace=cluster_id.namespace or None,
    )


def drift_after(
    previous: ClusterAddonsStatus | None, repaired: int, now: str
) -> DriftStatus | None:
    """A cluster's drift record after a pass that re-applied ``repaired`` objects."""
    known = previous.drift if previous else None
    if not repaired:
        return known
    return DriftStatus(count=(known.count if known else 0) + repaired, last_detected=now)


def entry_for(status: AddonBundleStatus | None, cid: ObjectId) -> ClusterAddonsStatus | None:
    """The bundle's recorded status on one cluster (after a restart, the only memory)."""
    for entry in status.clusters if status else []:
        ref = entry.cluster_ref
        if (GroupKind.of(ref.api_version, ref.kind), ref.name) == (cid.gk, cid.name):
            return entry
    return None
