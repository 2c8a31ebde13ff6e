"""`FrozenHeap`: a settled heap is frozen out of garbage collection, a cycle among frozen
objects is still collected at the next quiet moment that is due, young collections are spaced
out from `begin` until `thaw`, and the app begins and freezes once its informers synced, and
thaws when it stops."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from function.kube.heaptrim import HeapTrim
from function.reconciler.collector import YOUNG_THRESHOLD, FrozenHeap, frozen
from tests.install.test_commands import dry_parse
from tests.reconciler.harness import (
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)


class Node:
    """A container object that can be put in a cycle and watched through a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the rest of the suite collects as usual)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def cycle() -> tuple[list[Node], weakref.ref[Node]]:
    """A two-node cycle held by a list, and a weak reference to one of its nodes."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return [a], weakref.ref(a)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_settle_freezes_what_is_held_and_collects_garbage_first() -> None:
    held, alive = cycle()
    garbage, dead = cycle()
    del garbage
    done = FrozenHeap().settle()
    assert dead() is None  # collected before the freeze, not frozen for good
    assert done.collected >= 2
    assert done.frozen > 0 and gc.get_freeze_count() > 0
    assert alive() is not None
    assert gc.is_tracked(held[0])


def test_a_cycle_among_frozen_objects_outlives_collections_until_a_refreeze() -> None:
    clock = Clock()
    heap = FrozenHeap(every=60.0, duty=1.0, clock=clock)
    held, node = cycle()
    heap.settle()
    held.clear()  # the cycle is garbage now, but frozen
    gc.collect()
    assert node() is not None  # a full collection skips the permanent generation
    clock.now = 30.0
    assert heap.quiet() is None  # not due yet
    assert node() is not None
    clock.now = 61.0
    done = heap.quiet()
    assert done is not None and done.collected >= 2
    assert node() is None
    assert heap.refreezes == 1
    assert gc.get_freeze_count() > 0  # frozen again
    assert heap.quiet() is None  # the next one waits another period


def test_garbage_made_after_the_freeze_is_collected_as_usual() -> None:
    FrozenHeap().settle()
    garbage, node = cycle()
    del garbage
    gc.collect()
    assert node() is None


def test_refreezes_are_spaced_by_their_own_cost() -> None:
    clock = Clock()
    heap = FrozenHeap(every=1.0, duty=1e-9, clock=clock)  # any collection waits for ages
    heap.settle()
    clock.now = 10.0
    assert heap.quiet() is None


def test_nothing_is_frozen_before_settle_or_after_thaw() -> None:
    clock = Clock()
    heap = FrozenHeap(every=0.0, duty=1.0, clock=clock)
    assert heap.quiet() is None and not heap.settled
    heap.settle()
    assert gc.get_freeze_count() > 0
    heap.thaw()
    assert gc.get_freeze_count() == 0 and not heap.settled
    assert heap.quiet() is None


def test_young_collections_are_spaced_out_from_begin_until_thaw() -> None:
    before = gc.get_threshold()
    heap = FrozenHeap(young=5000)
    try:
        heap.begin()
        assert gc.get_threshold() == (5000, *before[1:])
        heap.begin()  # once begun, what thaw restores stays the first
        heap.settle()  # a full collection: the young count starts at 0
        young = [Node() for _ in range(1000)]  # fewer allocations than the threshold
        assert gc.get_count()[0] >= len(young)  # no young collection since (700 would have)
        garbage, node = cycle()
        del garbage
        gc.collect()
        assert node() is None  # a collection still frees young cycles
    finally:
        heap.thaw()
    assert gc.get_threshold() == before


def test_a_quiet_moment_collects_the_young_cycles_a_wide_threshold_left() -> None:
    clock = Clock()
    heap = FrozenHeap(every=60.0, duty=0.01, young=50_000, clock=clock)
    try:
        heap.begin()
        heap.settle()
        garbage, node = cycle()
        del garbage
        assert node() is not None  # young, and no young collection due for a long while
        assert heap.quiet() is None  # no refreeze due, but the young generations collected
        assert node() is None
        garbage, node = cycle()
        del garbage
        heap.quiet()  # at once: the next young collection waits its own cost over the duty
        assert node() is not None
        clock.now = 59.0
        heap.quiet()
        assert node() is None and heap.refreezes == 0
    finally:
        heap.thaw()


async def test_the_quiet_moments_of_requests_run_the_refreeze() -> None:
    clock = Clock()
    heap = FrozenHeap(every=60.0, clock=clock)
    trim = HeapTrim(None, quiet=0.01)  # no C heap to trim: the chore still runs
    trim.at_quiet(heap.quiet)
    held, node = cycle()
    heap.settle()
    held.clear()
    clock.now = 1e6  # the refreeze is due
    trim.used()  # a request ended
    await eventually(lambda: node() is None, within=5, what="the frozen cycle collected")
    assert heap.refreezes == 1
    await asyncio.sleep(0.1)
    assert heap.refreezes == 1  # one per pause: no request since


async def test_the_app_freezes_once_its_informers_synced_and_converges_as_before(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    async with running(tmp_path, freeze_heap=True) as h:
        assert frozen.settled and gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        store = h.app.store if h.app is not None else None
        assert store is not None and gc.is_tracked(store)
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        assert h.workload("c1").get("v1", "ConfigMap", "a", "apps")["data"]["value"] == "v1"
        await h.stop()
        assert not frozen.settled and gc.get_freeze_count() == 0  # stopped: thawed
        assert gc.get_threshold() == before


async def test_the_app_spaces_young_collections_as_its_setting_says(tmp_path: Path) -> None:
    before = gc.get_threshold()
    async with running(tmp_path, freeze_heap=True, gc_young_threshold=700) as h:
        assert gc.get_threshold() == (700, *before[1:])
        await h.stop()
    assert gc.get_threshold() == before


def test_the_command_takes_the_young_threshold_and_refuses_none() -> None:
    assert dry_parse(["reconcile"])[1].params["gc_young_threshold"] == YOUNG_THRESHOLD
    name, ctx = dry_parse(["reconcile", "--gc-young-threshold", "700"])
    assert (name, ctx.params["gc_young_threshold"]) == ("reconcile", 700)
    with pytest.raises(click.BadParameter, match="0 is not in the range x>=1"):
        dry_parse(["reconcile", "--gc-young-threshold", "0"])


async def test_without_the_setting_nothing_is_frozen(tmp_path: Path) -> None:
    before = gc.get_threshold()
    async with running(tmp_path):
        assert not frozen.settled and gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
