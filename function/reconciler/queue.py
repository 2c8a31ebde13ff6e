"""A de-duplicating, rate-limited work queue of object keys — client-go's model on asyncio.

A key added N times before a worker takes it runs once; a key added while it is being
processed is marked dirty and runs again after `done`, never twice at once. Failures back off
per key (exponential from ``base_delay`` to ``max_delay``, with jitter); `forget` resets a key
after a success. Nothing here knows what a key means: the reconciler's keys go in
(`function.reconciler.keys`: `BundleKey`, `TargetKey`, `StatusKey`, `TriggerKey`...).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class QueueShutDownError(Exception):
    """`get` was called on a queue that is shutting down."""


class WorkQueue(Generic[K]):
    """The queue: `add`, `add_after`, `add_rate_limited`, `get`, `done`, `forget`, `shutdown`."""

    def __init__(
        self, *, base_delay: float = 0.005, max_delay: float = 300.0, jitter: float = 0.1
    ) -> None:
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._nonempty = asyncio.Event()
        self._shutting_down = False
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._jitter = jitter

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; defer it if it is being processed."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending timer for it wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def add_rate_limited(self, key: K, *, at_least: float = 0.0) -> float:
        """Queue ``key`` after its next backoff delay (never sooner than ``at_least``)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self._base_delay * 2.0**failures, self._max_delay)
        delay *= 1 + random.uniform(-self._jitter, self._jitter)
        delay = max(delay, at_least)
        self.add_after(key, delay)
        return delay

    def failures(self, key: K) -> int:
        """How many times in a row ``key`` has failed."""
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """Reset the backoff of ``key`` (after a success)."""
        self._failures.pop(key, None)

    async def get(self) -> K:
        """Wait for the next key and mark it as being processed."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDownError
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` processed; requeue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        """Stop accepting keys and release waiting workers."""
        self._shutting_down = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._wake()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> int:
        """How many keys workers hold right now."""
        return len(self._processing)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _wake(self) -> None:
        self._nonempty.set()
