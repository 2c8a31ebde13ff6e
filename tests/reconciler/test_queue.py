"""The work queue: de-duplication, no concurrent processing of a key, backoff, shutdown."""

import asyncio

import pytest

from function.reconciler.queue import QueueShutDownError, WorkQueue


async def test_duplicates_collapse_into_one_item() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_key_added_while_processing_runs_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    assert len(q) == 0  # not handed to a second worker while the first holds it
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_rate_limited_delays_grow_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.04, jitter=0.0)
    delays = [q.add_rate_limited("a") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert q.failures("a") == 4
    q.forget("a")
    assert q.failures("a") == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_add_after_keeps_the_earliest_timer() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 10)
    q.add_after("a", 0.01)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_shutdown_releases_waiting_workers() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(QueueShutDownError):
        await waiter
    q.add("late")
    assert len(q) == 0
