"""Python's cyclic garbage collector kept off the heap a settled reconciler holds for good.

A full (generation 2) collection traverses every container object of the process. The
reconciler's heap grows with its fleet (the informers' stores, a client, a watch and records
per cluster), and a restart or a cold convergence allocates fast enough to set off full
collections one after another: at 1,000 clusters they took 24-31% of a restart's CPU, each
traversing the whole of it again. Most of that heap is what the informers listed at start,
which lives until an update replaces it, so traversing it again finds nothing to collect.

`gc.freeze()` moves every object tracked so far into the permanent generation, which
collections skip; what is allocated afterwards is collected as before. `FrozenHeap.settle`
collects once and freezes when the informers have synced. A frozen object that later becomes
garbage inside a reference cycle is not freed until it is unfrozen (garbage without a cycle,
almost all of it, is freed by its reference count, frozen or not). So at quiet moments
(`function.kube.heaptrim.HeapTrim.at_quiet`), at most once every `REFREEZE_SECONDS` and at
most `DUTY` of the wall clock, `refreeze` unfreezes, collects everything, and freezes again.

Young collections are spaced out too, from the moment the app starts (`begin`) until it
stops: CPython collects its youngest generation every 700 net allocations, and each of those
collections also touches the older objects its young ones refer to, so it costs more the
bigger the heap. A 1,000-cluster restart set off 2,200 of them, 200 of the middle generation
and 16-18 full ones that traversed the state the workers built after the freeze (5-6 s of its
15-19 s of CPU). `YOUNG_THRESHOLD` allocations apart, most young objects are gone by refcount
before a collection looks at them and fewer survive into the older generations: 18 young
collections, at most two middle ones and one full one (1.0 s), and the restart took 9.3-11 s
of CPU instead of 13-15.5 (`benchmarks/reconciler.py`). Cyclic garbage waits longer to be
freed, never more than that many allocations, and no longer than the next quiet moment:
there the young generations are collected, so an idle process does not keep them.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from function.kube.heaptrim import heap

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 50_000
"""Net allocations between two young collections while the app runs (CPython's is 700)."""
REFREEZE_SECONDS = 300.0
"""The least time between two full collections of the frozen heap (a resync period)."""
DUTY = 0.01
"""The largest share of the wall clock those collections may take: after one of ``t``
seconds the next waits at least ``t / DUTY``."""


@dataclass(frozen=True)
class Freeze:
    """What one freeze did."""

    collected: int
    """Unreachable objects the collection before it found."""
    frozen: int
    """Objects in the permanent generation after it."""
    seconds: float


class FrozenHeap:
    """The process's settled heap kept frozen, and collected whole now and then."""

    def __init__(
        self,
        *,
        every: float = REFREEZE_SECONDS,
        duty: float = DUTY,
        young: int = YOUNG_THRESHOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every = every
        self._young = young
        self._thresholds: tuple[int, int, int] | None = None
        """The collector's thresholds before `begin` (None: not begun)."""
        self._young_next = 0.0
        """When a quiet moment may collect the young generations again."""
        self._duty = duty
        self._clock = clock
        self._next: float | None = None
        """When the next refreeze may run; None until `settle`."""
        self.refreezes = 0
        """Refreezes so far."""

    @property
    def settled(self) -> bool:
        """Whether the heap has been frozen (`settle`)."""
        return self._next is not None

    def begin(self, young: int | None = None) -> None:
        """The app starts its work: young collections are spaced out (``young``
        allocations apart, the heap's own figure without it) until `thaw`."""
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(young or self._young, *self._thresholds[1:])

    def settle(self) -> Freeze:
        """Collect and freeze what the process holds now (its informers have synced)."""
        done = self._freeze(unfreeze=False)
        log.info(
            "froze %d settled objects out of garbage collection (%.0f ms)",
            done.frozen,
            done.seconds * 1000,
            extra={"frozen": done.frozen, "seconds": round(done.seconds, 4)},
        )
        return done

    def quiet(self) -> Freeze | None:
        """A quiet moment: refreeze if one is due (see `refreeze`). Else, once begun, collect
        the young generations (within ``duty`` of the wall clock): a process gone idle would
        otherwise hold up to ``young`` allocations of cyclic garbage until its next burst."""
        now = self._clock()
        if self._next is not None and now >= self._next:
            return self.refreeze()
        if self._thresholds is not None and now >= self._young_next:
            started = time.perf_counter()
            gc.collect(1)
            self._young_next = now + (time.perf_counter() - started) / self._duty
        return None

    def refreeze(self) -> Freeze:
        """Unfreeze, collect everything (cycles among frozen objects too), freeze again."""
        done = self._freeze(unfreeze=True)
        self.refreezes += 1
        log.debug(
            "collected %d objects of the frozen heap and froze %d again in %.0f ms",
            done.collected,
            done.frozen,
            done.seconds * 1000,
            extra={
                "collected": done.collected,
                "frozen": done.frozen,
                "seconds": round(done.seconds, 4),
            },
        )
        return done

    def thaw(self) -> None:
        """Unfreeze for good: collections traverse everything again, and as often, as without
        `begin` and `settle`."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        self._next = None
        gc.unfreeze()

    def _freeze(self, *, unfreeze: bool) -> Freeze:
        started = time.perf_counter()
        if unfreeze:
            gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        took = time.perf_counter() - started
        self._next = self._clock() + max(self._every, took / self._duty)
        return Freeze(collected, gc.get_freeze_count(), took)


frozen = FrozenHeap()
"""The process's one heap; its refreezes wait for the quiet moments of its requests."""
heap.at_quiet(frozen.quiet)
