"""Rolling a bundle change across its clusters a few at a time (``maxUpdate``).

A target that has not converged the bundle's current generation must be admitted before it
converges: at most ``maxUpdate`` clusters are updating at once. A cluster is done (updated) when
its add-ons are all healthy, which frees its place for the next one waiting; a cluster whose
add-ons fail stops the rollout from spreading (nothing more is admitted) until it recovers or
the bundle changes again. Clusters still updating when the bundle changes keep their places.

Targets that already converged the current generation (health re-checks, drift repairs,
resyncs), in this process or, by their status entry, before a restart, go ahead without a
place: they are not a change reaching a cluster. What is kept here is per process and per
bundle; a process that starts mid-rollout takes it up from the bundle's status (`admit`'s
``recorded``): clusters at the current generation are updating, updated or failed as their
entries say, so a restart spreads the change no faster. `status` summarises it for the
bundle's `RolloutStatus`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from function.model.bundle import rollout_limit
from function.model.bundlestatus import AddonPhase, ClusterAddonsStatus, RolloutStatus
from function.reconciler.keys import BundleKey
from function.reconciler.store import GroupKind, ObjectId


@dataclass
class _Rollout:
    """One bundle generation rolling out."""

    generation: int
    limit: int
    updating: set[ObjectId] = field(default_factory=set)
    updated: set[ObjectId] = field(default_factory=set)
    failed: set[ObjectId] = field(default_factory=set)
    waiting: set[ObjectId] = field(default_factory=set)

    def place(self, cluster: ObjectId, status: ClusterAddonsStatus) -> None:
        """File ``cluster`` as failed, updated or updating, by what its ``status`` says."""
        if any(a.phase is AddonPhase.FAILED for a in status.addons):
            self.failed.add(cluster)
        elif status.ready:
            self.updated.add(cluster)
        else:
            self.updating.add(cluster)

    def admitted(self, cluster: ObjectId) -> bool:
        return cluster in self.updating or cluster in self.updated or cluster in self.failed


class Rollouts:
    """The rollouts of every bundle with ``maxUpdate``; shared by every worker."""

    def __init__(self) -> None:
        self._rollouts: dict[BundleKey, _Rollout] = {}

    def admit(
        self,
        bundle: BundleKey,
        generation: int,
        cluster: ObjectId,
        max_update: int | str | None,
        clusters: int,
        recorded: Callable[[], Iterable[ClusterAddonsStatus]] = tuple,
        *,
        current: bool = False,
    ) -> bool:
        """Whether ``cluster`` may converge ``generation`` now; if not, it waits for a place
        (`record` hands it one). ``current``: it has ``generation`` already and goes ahead.
        ``recorded``: the bundle's status entries of this process's clusters, where a rollout
        it has not seen yet resumes from."""
        if max_update is None:
            self._rollouts.pop(bundle, None)
            return True
        limit = rollout_limit(max_update, clusters)
        rollout = self._current(bundle, generation, limit, recorded)
        if current or rollout.admitted(cluster):
            return True
        if rollout.failed or len(rollout.updating) >= rollout.limit:
            rollout.waiting.add(cluster)
            return False
        rollout.waiting.discard(cluster)
        rollout.updating.add(cluster)
        return True

    def record(
        self,
        bundle: BundleKey,
        cluster: ObjectId,
        status: ClusterAddonsStatus,
        targets: Iterable[ObjectId],
    ) -> list[ObjectId]:
        """Note where ``cluster`` stands after converging; the waiting clusters given the
        places that freed (to be queued), the rollout not halted."""
        rollout = self._rollouts.get(bundle)
        if rollout is None or not rollout.admitted(cluster):
            return []
        for group in (rollout.updating, rollout.updated, rollout.failed):
            group.discard(cluster)
        rollout.place(cluster, status)
        if rollout.failed:
            return []
        current = set(targets)
        rollout.waiting &= current
        rollout.updating &= current
        free = rollout.limit - len(rollout.updating)
        promoted = sorted(rollout.waiting, key=str)[: max(free, 0)]
        rollout.waiting.difference_update(promoted)
        rollout.updating.update(promoted)
        return promoted

    def forget(self, bundle: BundleKey, cluster: ObjectId | None = None) -> None:
        """Drop a bundle's rollout, or one cluster from it (no longer a target)."""
        if cluster is None:
            self._rollouts.pop(bundle, None)
            return
        rollout = self._rollouts.get(bundle)
        if rollout is not None:
            for group in (rollout.updating, rollout.updated, rollout.failed, rollout.waiting):
                group.discard(cluster)

    def waiting(self, bundle: BundleKey, cluster: ObjectId) -> bool:
        """Whether ``cluster`` waits for a place in the bundle's rollout."""
        rollout = self._rollouts.get(bundle)
        return rollout is not None and cluster in rollout.waiting

    def status(self, bundle: BundleKey) -> RolloutStatus | None:
        """The bundle's rollout for its status; None without ``maxUpdate``."""
        rollout = self._rollouts.get(bundle)
        if rollout is None:
            return None
        updating = sorted(_name(c) for c in rollout.updating)
        failed = sorted(_name(c) for c in rollout.failed)
        message = None
        if failed:
            message = (
                f"rollout halted: the change failed on {', '.join(failed)};"
                f" {len(rollout.waiting)} cluster(s) wait until it is fixed"
            )
        elif rollout.waiting:
            message = (
                f"rolling out to {rollout.limit} cluster(s) at a time;"
                f" {len(rollout.waiting)} waiting"
            )
        return RolloutStatus(
            generation=rollout.generation,
            updating_clusters=updating,
            updated_clusters=len(rollout.updated),
            failed_clusters=failed,
            waiting_clusters=len(rollout.waiting),
            message=message,
        )

    def _current(
        self,
        bundle: BundleKey,
        generation: int,
        limit: int,
        recorded: Callable[[], Iterable[ClusterAddonsStatus]],
    ) -> _Rollout:
        rollout = self._rollouts.get(bundle)
        if rollout is None:
            rollout = _resumed(bundle, generation, limit, recorded())
            self._rollouts[bundle] = rollout
        elif rollout.generation != generation:
            rollout = _Rollout(generation, limit, updating=set(rollout.updating))
            self._rollouts[bundle] = rollout
        rollout.limit = limit
        return rollout


def _resumed(
    bundle: BundleKey, generation: int, limit: int, recorded: Iterable[ClusterAddonsStatus]
) -> _Rollout:
    """A rollout as the bundle's status leaves it: each cluster entry at ``generation`` has
    its place, as `Rollouts.record` gave it (pure)."""
    rollout = _Rollout(generation, limit)
    for entry in recorded:
        if entry.observed_generation != generation:
            continue
        ref = entry.cluster_ref
        gk = GroupKind.of(ref.api_version, ref.kind)
        rollout.place(ObjectId(gk, ref.namespace or bundle.namespace, ref.name), entry)
    return rollout


def _name(cluster: ObjectId) -> str:
    """As status names clusters: ``<namespace>/<name>``."""
    return f"{cluster.namespace}/{cluster.name}" if cluster.namespace else cluster.name
