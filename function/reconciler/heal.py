"""Self-healing for ``ContinuousWithDriftDetection``: when to look, what was applied, repair.

The pure comparison lives in `drift`. `Healer` decides when a target is due for a drift
check — at once when a watched object of it moved (`suspect`, from `driftwatch`), otherwise
at most once per period, the safety net — and re-applies drifted objects with force, taking
back fields another manager changed. When a target was checked and when drift was seen are
kept in the target's record (`function.reconciler.memory`), timed on the clock handed in.

A process that starts over a settled fleet knows of no check: each target's first one falls
at its own place in the period (`spread`, fixed by its key), so a restart does not read every
target's objects at once, and the checks that follow stay spread. Every target is still
checked within one period of the restart: drift made while no reconciler ran is repaired by
then (drift the watches see is repaired at once, as ever).
What an add-on applied is not kept per target: a check asks for the add-on's objects again,
which the render cache (`function.reconciler.rendercache`) answers without rendering for
every cluster of a class, so an idle cluster costs no copy of its objects.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from math import inf

from function.kube.client import KubeClient
from function.model.bundle import AddonSpec
from function.model.objects import Object, describe
from function.reconciler.apply import Owner, apply_object, identity, kind_key, read_owned
from function.reconciler.conflicts import managed_elsewhere
from function.reconciler.drift import exclusions_for, find_drift, ignored
from function.reconciler.keys import TargetKey
from function.reconciler.memory import Memory, Remembered

log = logging.getLogger(__name__)

_EARLY = 0.9
"""A target is due once this share of the period has passed since its last check (a resync
a little early does the check rather than leave it to a requeue of its own)."""

Render = Callable[[], Awaitable[list[Object]]]


class Healer:
    """Drift checks and repairs, for every target in drift-detection mode."""

    def __init__(
        self, period: float, memory: Memory, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._period = period
        self._memory = memory
        self._clock = clock
        """Seconds, monotonic: when checks are due and how long a repair took."""
        self.restored: list[float] = []
        """Seconds from detection to repair, per repaired target (the latest 10 000)."""

    def due(self, key: TargetKey, target: Remembered) -> bool:
        """Whether ``target`` is to be checked now (and note that it is). One not checked
        in this process yet is first placed in the period by its key (`spread`)."""
        now = self._clock()
        if target.checked is None:
            target.checked = now - _EARLY * self._period * (1.0 - spread(key))
        if now - target.checked < _EARLY * self._period:
            return False
        target.checked = now
        return True

    def wait(self, target: Remembered) -> float:
        """Seconds until ``target``'s next check is due by the period (after `due`)."""
        now = self._clock()
        checked = now if target.checked is None else target.checked
        return max(0.0, checked + self._period - now)

    def applied(self, target: Remembered) -> None:
        """``target`` was just written to: its next check is a period from now (objects
        just applied are what was applied; a cold fleet is not checked while it converges)."""
        target.checked = self._clock()

    def suspect(self, key: TargetKey) -> None:
        """A watch saw an object of a target move: it is due at once."""
        target = self._memory.of(key)
        target.checked = -inf
        if target.detected is None:
            target.detected = self._clock()

    def checked(self, target: Remembered, repaired: int) -> None:
        """A drift check of ``target`` ended: time the repair of what a watch saw."""
        detected, target.detected = target.detected, None
        if detected is not None and repaired:
            self.restored.append(self._clock() - detected)
            del self.restored[:-10_000]

    async def heal(
        self,
        client: KubeClient,
        target: TargetKey,
        owner: Owner,
        addon: AddonSpec,
        render: Render,
    ) -> int:
        """Re-apply every object of ``addon`` that drifted (``render`` gives what it applies,
        as of its current input hash); return how many."""
        objects = await render()
        live = await read_owned(client, owner, {kind_key(o) for o in objects})
        repaired = 0
        for obj in objects:
            current = live.get(identity(obj))
            if ignored(obj, current):
                continue
            if current is None and (other := await managed_elsewhere(client, obj, owner)):
                log.info("%s (%s) is managed by %s: not drift", describe(obj), addon.name, other)
                continue
            drift = find_drift(obj, current, exclusions_for(obj, addon.drift_exclusions))
            if drift:
                log.info(
                    "drift in %s (%s): %s",
                    describe(obj),
                    addon.name,
                    ", ".join(drift),
                    extra={
                        "bundle": f"{owner.bundle_namespace}/{owner.bundle_name}",
                        "target": str(target),
                        "addon": addon.name,
                        "object": describe(obj),
                        "paths": drift,  # where, never what: no values (Secret data) here
                    },
                )
                await apply_object(client, obj, force=True)
                repaired += 1
        return repaired


def spread(key: TargetKey) -> float:
    """Where in the drift period ``key``'s first check in a process falls: a fraction in
    [0, 1), the same in every process and evenly spread over a fleet's targets (pure)."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
