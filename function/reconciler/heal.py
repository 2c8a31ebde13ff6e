"""Self-healing for ``ContinuousWithDriftDetection``: when to look, what was applied, repair.

The pure comparison lives in `drift`. `Healer` decides when a target is due for a drift
check — at once when a watched object of it moved (`suspect`, from `driftwatch`), otherwise
at most once per period, the safety net — and re-applies drifted objects with force, taking
back fields another manager changed. When a target was checked and when drift was seen are
kept in the target's record (`function.reconciler.memory`), timed on the clock handed in.
What an add-on applied is not kept per target: a check asks for the add-on's objects again,
which the render cache (`function.reconciler.rendercache`) answers without rendering for
every cluster of a class, so an idle cluster costs no copy of its objects.
"""

from __future__ import annotations

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

    def due(self, target: Remembered) -> bool:
        """Whether ``target`` is to be checked now (and note that it is)."""
        now = self._clock()
        if now - target.checked < self._period * 0.9:
            return False
        target.checked = now
        return True

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
