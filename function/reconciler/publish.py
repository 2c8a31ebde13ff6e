"""A bundle's status, published: composed over the newest status, written, and told in Events.

`StatusPublisher` turns one replica's cluster entries into the bundle's status: it merges them
over the entries other replicas wrote (`statuswrite.merge_entries`), recomputes the conditions
from all of them (`status.compose_status`), writes the result with `statuswrite.StatusWriter`
(resourceVersion-guarded, composed again on each conflict) and records the Events of what
changed on this replica's clusters. It also keeps each bundle's status parsed once per
version, and, for a bundle being deleted, takes this replica's entries out (`hand_over`).
On a sharded fleet (`split` set) a split bundle's status is applied shard by shard instead
(`function.reconciler.shardstatus`): each replica sends only its own clusters' entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from function.model.bundlestatus import (
    AddonBundleStatus,
    ClusterAddonsStatus,
    RolloutStatus,
    keyed,
)
from function.model.common import ObjectRef
from function.model.objects import Object, meta
from function.reconciler.connection import connection_changes
from function.reconciler.events import EventRecorder
from function.reconciler.keys import DONE, BundleKey, Result
from function.reconciler.shardstatus import ShardStatus
from function.reconciler.status import (
    compose_status,
    drift_corrections,
    read_status,
    transitions,
)
from function.reconciler.statuswrite import StatusWriter, merge_entries, restricted

IsMine = Callable[[ObjectRef], bool]
"""Whether this replica writes the status entry of a cluster."""


class StatusPublisher:
    """Writes bundles' status for one replica and records the Events of its changes."""

    def __init__(
        self, writer: StatusWriter, events: EventRecorder, clock: Callable[[], str]
    ) -> None:
        self.writer = writer
        self._events = events
        self._clock = clock
        self._statuses: dict[BundleKey, tuple[str, str, AddonBundleStatus | None]] = {}
        """The bundle's status as last parsed, by uid and resourceVersion."""
        self._written: dict[BundleKey, tuple[Object, AddonBundleStatus]] = {}
        """The status last written, as sent and as composed, until it is read back (so that
        costs no parse)."""
        self.split: ShardStatus | None = None
        """How split bundles' status is written on a sharded fleet; None: not sharded."""

    def read(self, key: BundleKey, bundle: Object) -> AddonBundleStatus | None:
        """`read_status`, parsed once per version of the bundle."""
        m = meta(bundle)
        uid, version = str(m.get("uid", "")), str(m.get("resourceVersion", ""))
        cached = self._statuses.get(key)
        if cached is not None and cached[:2] == (uid, version) and version:
            return cached[2]
        written = self._written.get(key)
        if written is not None and bundle.get("status") == written[0]:
            status: AddonBundleStatus | None = written[1]
            del self._written[key]  # kept from now on as this version's parse
        else:
            status = read_status(bundle)
        self._statuses[key] = (uid, version, status)
        return status

    async def publish(
        self,
        key: BundleKey,
        bundle: Object,
        mine: Sequence[ClusterAddonsStatus],
        is_mine: IsMine | None,
        *,
        generation: int,
        spec_error: str | None,
        no_targets: str | None,
        writes: bool,
        rollout: RolloutStatus | None,
    ) -> Result:
        """Write the status of ``mine`` (every entry, unless ``is_mine`` says which are this
        replica's) and record the Events of this replica's clusters."""
        now = self._clock()
        if is_mine is not None and self.split is not None:

            def aggregate(
                clusters: Sequence[ClusterAddonsStatus], previous: AddonBundleStatus | None
            ) -> AddonBundleStatus:
                return compose_status(
                    generation=generation,
                    clusters=clusters,
                    spec_error=spec_error,
                    no_targets=no_targets,
                    previous=previous,
                    now=now,
                    writes=writes,
                )

            applied = await self.split.publish(bundle, mine, aggregate)
            if applied.writes:
                before = [ClusterAddonsStatus.model_validate(raw) for raw in applied.previous]
                await self._announce(
                    bundle,
                    AddonBundleStatus(clusters=before),
                    AddonBundleStatus(clusters=[keyed(entry) for entry in mine]),
                )
            return DONE
        composed: list[tuple[AddonBundleStatus | None, AddonBundleStatus]] = []

        def compose(base: Object) -> Object:
            previous = self.read(key, base)
            status = compose_status(
                generation=generation,
                clusters=merge_entries(mine, previous, is_mine or _every),
                spec_error=spec_error,
                no_targets=no_targets,
                previous=previous,
                now=now,
                writes=writes,
                rollout=rollout,
            )
            composed.append((previous, status))
            return status.to_dict()

        written = await self.writer.write(bundle, compose)
        if written is None:
            return Result(retry=True)
        if not written.changed:
            return DONE
        previous, status = composed[-1]
        self._written[key] = (written.status, status)
        if is_mine is not None:  # its own clusters' Events only: the others' are theirs
            previous = restricted(previous, is_mine) if previous is not None else None
            status = restricted(status, is_mine)
        await self._announce(bundle, previous, status)
        return DONE

    async def hand_over(self, key: BundleKey, bundle: Object, is_mine: IsMine) -> bool:
        """A bundle being deleted, withdrawn from this replica's clusters: take their entries
        out of its status; whether other replicas' entries remain (they withdraw theirs, and
        the last one to find none left removes the finalizer)."""
        if self.split is not None:
            return await self.split.withdraw(bundle)
        remain: list[bool] = []

        def compose(base: Object) -> Object | None:
            previous = self.read(key, base)
            others = merge_entries([], previous, is_mine)
            remain.append(bool(others))
            if not others or previous is None:
                return None
            return previous.model_copy(update={"clusters": others}).to_dict()

        written = await self.writer.write(bundle, compose)
        return written is None or remain[-1]

    def forget_written(self, key: BundleKey) -> None:
        """Drop what this replica wrote of a bundle (another replica writes it now)."""
        self._written.pop(key, None)
        self.writer.forget(key.namespace, key.name)
        if self.split is not None:
            self.split.forget(key.namespace, key.name)

    def moved(self, bundle: Object) -> bool:
        """Whether another replica's write moved a split bundle whose aggregates this replica
        writes (`ShardStatus.moved`)."""
        return self.split is not None and self.split.moved(bundle)

    def forget(self, key: BundleKey) -> None:
        """Drop everything kept of a bundle (it is gone)."""
        self._statuses.pop(key, None)
        self.forget_written(key)

    async def _announce(
        self, bundle: Object, previous: AddonBundleStatus | None, status: AddonBundleStatus
    ) -> None:
        for change in transitions(previous, status):
            await self._events.transition(bundle, change)
        for cluster, count in drift_corrections(previous, status):
            message = f"re-applied {count} object(s) that drifted on {cluster}"
            await self._events.record(
                bundle, reason="DriftCorrected", message=message, warning=True
            )
        for link in connection_changes(previous, status):
            await self._events.record(
                bundle, reason=link.reason, message=link.describe(), warning=link.down
            )


def _every(ref: ObjectRef) -> bool:
    return True
