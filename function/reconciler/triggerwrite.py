"""When an EventTrigger's status is written: once per burst of changes, not per reconcile.

Every reconcile of a trigger (`function.reconciler.triggers`) composes its whole status; over a
burst of events, and the phases the bundles they make go through, that is many statuses a few
milliseconds apart, each a write of an object that grows with the fleet. `StatusWrites` keeps
the one composed last (`TriggerMemory.composed`) and writes it by its own key in the trigger
queue, `StatusOf`, ``quiet`` seconds after the last change and never later than ``longest``
after the first: one write for the burst. What was decided from the status (Events,
notifications) is decided against the status composed, so a write not made yet neither loses
nor repeats one; a status that cannot be written is retried with backoff, and what is owed is
written on a clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from function.errors import KubeError, NotFoundError
from function.kube.client import KubeClient
from function.model.events import EVENT_TRIGGER_KIND, EventTriggerStatus
from function.model.objects import Object, meta
from function.reconciler.keys import DONE, Result, TriggerKey
from function.reconciler.queue import WorkQueue
from function.reconciler.store import GroupKind, Store
from function.reconciler.triggermemory import StatusDebt, TriggerMemory

GROUP = "addons.aifleet.io"
TRIGGER_API_VERSION = f"{GROUP}/v1alpha1"
TRIGGER = GroupKind(GROUP, EVENT_TRIGGER_KIND)


@dataclass(frozen=True, slots=True, order=True)
class StatusOf:
    """The write of a trigger's composed status: its own key in the trigger queue, so that
    many reconciles of a burst collapse into one write."""

    trigger: TriggerKey

    def __str__(self) -> str:
        return f"status of {self.trigger}"


TriggerWork = TriggerKey | StatusOf
"""What the trigger queue holds."""


class StatusWrites:
    """Schedules (`owe`) and makes (`write`) the status writes of triggers."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        queue: WorkQueue[TriggerWork],
        memory: Mapping[TriggerKey, TriggerMemory],
        owns: Callable[[Object], bool],
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._queue = queue
        self._memory = memory
        self._owns = owns
        self.quiet = 0.1
        """Seconds without a change before a composed status is written..."""
        self.longest = 1.0
        """...and the longest it waits while changes keep coming."""

    def owe(self, key: TriggerKey, composed: EventTriggerStatus) -> None:
        """``composed`` is the status of ``key`` now: its write is scheduled, not made."""
        if self._memory[key].owe(composed, time.monotonic()):
            self._queue.add_after(StatusOf(key), self.quiet)

    async def write(self, key: TriggerKey, *, now: bool = False) -> Result:
        """Write the status last composed for ``key`` once changes have quietened (``now``:
        at once)."""
        memory = self._memory.get(key)
        if memory is None or memory.debt is None or memory.composed is None:
            return DONE
        debt = memory.debt
        wait = debt.due(quiet=self.quiet, longest=self.longest) - time.monotonic()
        if wait > 0 and not now:
            return Result(requeue_after=wait)
        trigger = self._store.get(TRIGGER, key.namespace, key.name)
        if trigger is None or meta(trigger).get("deletionTimestamp") or not self._owns(trigger):
            memory.debt = None
            return DONE
        composed = memory.composed
        wanted = composed.to_dict()
        if wanted not in (trigger.get("status"), memory.written):
            try:
                await self._mgmt.patch_status(
                    TRIGGER_API_VERSION, EVENT_TRIGGER_KIND, key.name, key.namespace, wanted
                )
            except NotFoundError:
                memory.debt = None
                return DONE
            except KubeError as exc:
                return Result(retry=True, retry_after=exc.retry_after or 0.0)
            memory.wrote(wanted, composed)
        if memory.composed is composed:
            memory.debt = None
            return DONE
        # Composed again while this was written: that one is owed from its change.
        memory.debt = StatusDebt(since=debt.changed, changed=debt.changed)
        return Result(requeue_after=self.quiet)

    async def write_owed(self) -> None:
        """Write every status owed, at once (for at most ``longest`` seconds in all)."""
        owed = [key for key, memory in self._memory.items() if memory.debt is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.longest):
                for key in owed:
                    await self.write(key, now=True)

    def echoes(self, trigger: Object) -> bool:
        """Whether a change of ``trigger`` is only the status last written coming back."""
        m = meta(trigger)
        memory = self._memory.get(TriggerKey(str(m.get("namespace", "")), str(m["name"])))
        return (
            memory is not None
            and memory.written is not None
            and memory.seen == identity(trigger)
            and trigger.get("status") == memory.written
        )


def identity(trigger: Object) -> tuple[object, ...]:
    """What of a trigger, besides its status, a reconcile depends on."""
    m = meta(trigger)
    return (
        m.get("uid"),
        m.get("generation"),
        m.get("deletionTimestamp"),
        m.get("labels"),
        m.get("annotations"),
        trigger.get("spec"),
    )
