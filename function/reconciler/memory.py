"""What the reconciler remembers between reconciles: one record per bundle, one per target.

A bundle's record (`BundleRecord`) holds its parsed spec (with the uid and generation it was
parsed for), what of it the last queued look saw (its signature: a change of status alone
queues nothing), and how many of its targets converge right now (deletion waits for them).
A target's record (`Remembered`) holds all that outlives one converge of it: what its last
converge found (`Converged`: its status, the bundle generation it converged for, the
generation it last logged as finished), when it was last checked for drift and when a watch
saw it drift (`function.reconciler.heal`), the add-ons waiting to be healthy with their
checks so far (`function.reconciler.gate`), the add-ons that lost objects to another
bundle (`function.reconciler.conflicts`), and input hashes by the versions they were computed
from (`function.reconciler.rendering`). `Memory` keeps the records by `BundleKey` and by
`TargetKey`; a bundle or a target that goes is dropped whole (`forget_bundle`, `forget`), so
nothing of it outlives it. `StatusView` shows the statuses alone, read-only, to the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field

from function.errors import SpecError
from function.model.bundle import AddonBundleSpec
from function.model.bundlestatus import ClusterAddonsStatus
from function.reconciler.keys import BundleKey, TargetKey


@dataclass
class BundleRecord:
    """All that is kept of one bundle between reconciles."""

    spec: tuple[str, int, AddonBundleSpec | SpecError] | None = None
    """Its spec as last parsed (or why it does not parse), with the uid and generation."""
    signature: tuple[object, ...] | None = None
    """What of it, other than its status, the last queued look saw."""
    in_flight: int = 0
    """How many of its targets converge now."""
    idle: asyncio.Event | None = None
    """Set when the last target in flight ends, for whoever waits on it."""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Count a target of the bundle as in flight while the block runs."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight and self.idle is not None:
                self.idle.set()
                self.idle = None

    async def until_idle(self) -> None:
        """Wait until no target of the bundle is in flight (deletion waits for late applies)."""
        while self.in_flight:
            if self.idle is None:
                self.idle = asyncio.Event()
            await self.idle.wait()


@dataclass(frozen=True)
class Converged:
    """What a target's last converge found."""

    status: ClusterAddonsStatus
    generation: int
    """The bundle generation it converged for."""
    finished: int
    """The generation it last logged as finished applying (-1: not finished)."""


Hashed = tuple[tuple[str | int | None, ...], str | None, tuple[str | None, ...], str, str]
"""The versions an add-on's input hash was computed from — the target's (one tuple for all
its add-ons), the chart's digest, the ``manifestsFrom`` sources' — the input hash and the
render key."""


@dataclass
class Remembered:
    """All that is kept of one target between reconciles."""

    converged: Converged | None = None
    checked: float | None = None
    """When its last drift check was (or its last write; the healer's monotonic clock); None
    until the healer first looks at it in this process and places its first check."""
    detected: float | None = None
    """When a watch saw it drift, until it is checked."""
    waiting: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)
    """Add-on → health checks so far, and the kinds of its objects not healthy yet."""
    expected: dict[str, dict[tuple[str, str, str, str], str | None]] = field(default_factory=dict)
    """Add-on waiting → the object hash of each object it waits for, which a drift watch's
    copy must carry to be judged instead of a read (`function.reconciler.gate`)."""
    hashed: dict[str, Hashed] = field(default_factory=dict)
    """Add-on → the versions of the inputs its input hash was computed from, with the input
    hash and render key, for a pass with the same versions (`function.reconciler.rendering`)."""
    lost: frozenset[str] = frozenset()
    """Add-ons that lost objects to another bundle since they last applied."""


class Memory:
    """Every bundle's record, by `BundleKey`, and every target's, by `TargetKey`."""

    def __init__(self) -> None:
        self._bundles: dict[BundleKey, BundleRecord] = {}
        self._records: dict[TargetKey, Remembered] = {}
        self.statuses: Mapping[TargetKey, ClusterAddonsStatus] = StatusView(self._records)
        """Each target's last status (read by the metrics)."""

    def bundle(self, key: BundleKey) -> BundleRecord:
        """The bundle's record, begun empty if it has none."""
        record = self._bundles.get(key)
        if record is None:
            record = self._bundles[key] = BundleRecord()
        return record

    def bundles(self) -> list[BundleKey]:
        """The bundles with a record."""
        return list(self._bundles)

    def forget_bundle(self, key: BundleKey) -> None:
        """Drop all that is kept of a bundle itself (its targets go by `forget`)."""
        self._bundles.pop(key, None)

    def get(self, key: TargetKey) -> Remembered | None:
        """The target's record, if it has one."""
        return self._records.get(key)

    def of(self, key: TargetKey) -> Remembered:
        """The target's record, begun empty if it has none."""
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = Remembered()
        return record

    def converged(self, key: TargetKey) -> Converged | None:
        """What the target's last converge found, if it has converged."""
        record = self._records.get(key)
        return record.converged if record is not None else None

    def targets(self, bundle: BundleKey | None = None) -> list[TargetKey]:
        """The targets with a record (of ``bundle``, if given)."""
        return [k for k in self._records if bundle is None or k.bundle == bundle]

    def forget(self, key: TargetKey) -> None:
        """Drop all that is kept of a target."""
        self._records.pop(key, None)


class StatusView(Mapping[TargetKey, ClusterAddonsStatus]):
    """The remembered statuses, read-only."""

    def __init__(self, records: Mapping[TargetKey, Remembered]) -> None:
        self._records = records

    def __getitem__(self, key: TargetKey) -> ClusterAddonsStatus:
        converged = self._records[key].converged
        if converged is None:
            raise KeyError(key)
        return converged.status

    def __iter__(self) -> Iterator[TargetKey]:
        return (k for k, r in self._records.items() if r.converged is not None)

    def __len__(self) -> int:
        return sum(1 for r in self._records.values() if r.converged is not None)
