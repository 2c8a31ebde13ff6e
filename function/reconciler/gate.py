"""The health gate: is an applied add-on healthy yet, and when to look again if not.

`HealthGate.judge` turns the live objects of an add-on into its phase — `Healthy`, `Waiting`,
`Failed` (a degraded object, or a Lua rule that failed) or `Applied` (no checks at all) —
with the built-in checks of `health` and the add-on's Lua rule (`function.lua.health`, run
on a worker thread). A waiting add-on is looked at again after 0.1 s, then twice as late each
time up to ``longest``, reading only the kinds of the objects that were not healthy yet (a
Lua rule, which may judge objects together, sees all of them again). The checks so far and
those kinds are kept in the target's record (`function.reconciler.memory`), with the object
hash of each object not healthy yet: a drift watch's copies of the add-on's objects
(`function.reconciler.driftwatch`) stand in for that read when every such object is among
them as it was applied (`watched`): a copy from before the latest apply could call healthy
what was just changed, and an object the watch has not seen yet is not judged at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import Executor
from functools import partial

from function.errors import LuaError
from function.lua.health import compile_health_rule
from function.model.bundle import AddonSpec
from function.model.bundlestatus import AddonPhase, AddonStatus
from function.model.health import HealthStatus, Verdict
from function.model.objects import Object
from function.reconciler.apply import kind_key
from function.reconciler.convergepass import Step
from function.reconciler.failures import Reason
from function.reconciler.hashing import recorded_hash
from function.reconciler.health import builtin_health, judge
from function.reconciler.memory import Remembered
from function.reconciler.triggerplan import resource_key

FIRST_CHECK = 0.1
"""Seconds before the first look again at a waiting add-on."""


class HealthGate:
    """Judges add-ons and paces the checks of waiting ones; shared by every worker."""

    def __init__(self, pool: Executor, longest: float) -> None:
        self._pool = pool
        self._longest = longest

    def kinds_to_read(
        self, target: Remembered, addon: str, applied: Iterable[str]
    ) -> Iterable[str]:
        """The kinds to read to judge a waiting add-on again (all, after a restart)."""
        waiting = target.waiting.get(addon)
        return waiting[1] if waiting is not None else applied

    def retry(self, target: Remembered, addon: str, kinds: frozenset[str] = frozenset()) -> float:
        """Note one more check of a waiting add-on; seconds until the next one."""
        checks = target.waiting.get(addon, (0, kinds))[0]
        target.waiting[addon] = (checks + 1, kinds)
        return min(self._longest, FIRST_CHECK * 2.0**checks)

    def settled(self, target: Remembered, addon: str) -> None:
        """The add-on is no longer waiting."""
        target.waiting.pop(addon, None)
        target.expected.pop(addon, None)

    def watched(
        self, target: Remembered, addon: AddonSpec, copies: list[Object] | None
    ) -> list[Object] | None:
        """A drift watch's ``copies`` of the add-on's objects, if they can be judged in place
        of a read: built-in checks only (a Lua rule reads whole objects), and every object
        the add-on waits for among them with the object hash it was judged with."""
        expected = target.expected.get(addon.name)
        if copies is None or expected is None or addon.health.lua is not None:
            return None
        if not addon.health.builtin:
            return None
        seen = {resource_key(o): recorded_hash(o) for o in copies}
        if any(key not in seen or seen[key] != hash_ for key, hash_ in expected.items()):
            return None
        return copies

    async def judge(
        self,
        target: Remembered,
        addon: AddonSpec,
        base: AddonStatus,
        live: list[Object],
        verdicts: list[Verdict] | None = None,
    ) -> Step:
        """The add-on's status from its live objects (or their ``verdicts``, already known);
        a waiting one says when to look again."""
        # One copy of ``base`` per judgement, with no earlier cause: it is judged afresh.
        if not addon.health.builtin and addon.health.lua is None:
            applied = {"phase": AddonPhase.APPLIED, "message": None, "reason": None}
            return Step(base.model_copy(update=applied))
        try:
            if verdicts is None:
                verdicts = await self._verdicts(addon, live)
        except LuaError as exc:
            self.settled(target, addon.name)
            failed = {
                "phase": AddonPhase.FAILED,
                "message": lua_message(addon, exc),
                "reason": Reason.HEALTH_CHECK_FAILED,
            }
            return Step(base.model_copy(update=failed))
        unhealthy = [(o, v) for o, v in zip(live, verdicts, strict=True) if not v.healthy]
        degraded = next((v for _, v in unhealthy if v.status is HealthStatus.DEGRADED), None)
        if not unhealthy or degraded is not None:
            self.settled(target, addon.name)
            if degraded is not None:
                update = {"phase": AddonPhase.FAILED, "message": degraded.message, "reason": None}
                return Step(base.model_copy(update=update))
            healthy = {"phase": AddonPhase.HEALTHY, "message": None, "reason": None}
            return Step(base.model_copy(update=healthy))
        pending = live if addon.health.lua else [o for o, _ in unhealthy]
        again = self.retry(target, addon.name, frozenset(kind_key(o) for o in pending))
        target.expected[addon.name] = {resource_key(o): recorded_hash(o) for o, _ in unhealthy}
        waiting = {"phase": AddonPhase.WAITING, "message": unhealthy[0][1].message, "reason": None}
        return Step(base.model_copy(update=waiting), again)

    async def _verdicts(self, addon: AddonSpec, live: list[Object]) -> list[Verdict]:
        if addon.health.lua is None:
            return [builtin_health(o) for o in live]
        rule = compile_health_rule(addon.health.lua, name=addon.name)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, partial(judge, live, builtin=addon.health.builtin, rule=rule)
        )


def lua_message(addon: AddonSpec, exc: LuaError) -> str:
    """A Lua failure located like a template's: add-on, file, line, reason."""
    where = f"health.lua:{exc.line}" if exc.line is not None else "health.lua"
    return f"add-on {addon.name!r}, {where}: {exc.reason}"
