"""The keys that go into the work queue, and what a reconcile asks of the queue afterwards.

Three kinds of work, each level-based (a key names what to look at, never what happened):

- `BundleKey` — a bundle as a whole: its finalizer, its spec, which clusters it targets.
- `TargetKey` — one bundle on one cluster: readiness, render, apply, health, withdrawal.
  This is the unit that runs in parallel, as Sveltos' ClusterSummary is, and the key of all
  that is remembered of a target (`function.reconciler.memory`).
- `StatusKey` — write a bundle's status from what its targets found; many target results
  collapse into one status write because the queue drops duplicate keys.

EventTriggers have a queue of their own, keyed by `TriggerKey`; `work` and `requeue` are the
one worker loop and requeue rule every queue runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from function.reconciler.queue import QueueShutDownError, WorkQueue
from function.reconciler.store import ObjectId

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True, order=True)
class _Named:
    """An object named by namespace and name, written ``<namespace>/<name>``. Keys of two
    kinds never compare equal, even with the same name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class BundleKey(_Named):
    """An AddonBundle."""

    @classmethod
    def parse(cls, ref: str) -> BundleKey:
        """The bundle ``<namespace>/<name>`` names (as applied objects' annotation does)."""
        namespace, _, name = ref.partition("/")
        return cls(namespace, name)


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    """One bundle on one cluster."""

    bundle: BundleKey
    cluster: ObjectId

    def __str__(self) -> str:
        return f"{self.bundle} on {self.cluster}"


@dataclass(frozen=True, slots=True, order=True)
class StatusKey:
    """The status of a bundle."""

    bundle: BundleKey

    def __str__(self) -> str:
        return f"status of {self.bundle}"


@dataclass(frozen=True, slots=True, order=True)
class TriggerKey(_Named):
    """One EventTrigger (its own queue, served by `function.reconciler.triggers`)."""


Key = BundleKey | TargetKey | StatusKey


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile wants next: nothing, a look again later, or a retry with backoff."""

    requeue_after: float | None = None
    retry: bool = False
    retry_after: float = 0.0
    """With ``retry``: the server's hint; the backoff never goes below it."""


DONE = Result()


def requeue(queue: WorkQueue[K], key: K, result: Result) -> None:
    """Put ``key`` back as ``result`` asks: a retry with backoff, or forgotten (its backoff
    reset) and looked at again after ``requeue_after`` if set."""
    if result.retry:
        queue.add_rate_limited(key, at_least=result.retry_after)
        return
    queue.forget(key)
    if result.requeue_after is not None:
        queue.add_after(key, result.requeue_after)


async def work(queue: WorkQueue[K], reconcile: Callable[[K], Awaitable[Result]], what: str) -> None:
    """Reconcile keys of ``queue`` until it shuts down: a reconcile that raises is logged
    (``what``: the kind of object) and retried with backoff."""
    while True:
        try:
            key = await queue.get()
        except QueueShutDownError:
            return
        try:
            result = await reconcile(key)
        except Exception:
            log.exception("reconcile of %s %s failed", what, key)
            queue.add_rate_limited(key)
        else:
            requeue(queue, key, result)
        finally:
            queue.done(key)
