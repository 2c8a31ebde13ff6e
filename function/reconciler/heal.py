"""Self-healing for ``ContinuousWithDriftDetection``: when to look, what was applied, repair.

The pure comparison lives in `drift`; this module holds its state. `Healer` decides when a
target is due for a drift check (at most once per period), keeps what each add-on applied
(so a check compares with it instead of rendering again; an LRU bound keeps memory flat on
big fleets, and an evicted add-on is rendered again), and re-applies drifted objects with
force, taking back fields another manager changed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from math import inf

from function.kube.client import KubeClient, Object, describe
from function.model.bundle import AddonSpec
from function.reconciler.apply import Owner, apply_object, identity, kind_key, read_owned
from function.reconciler.drift import exclusions_for, find_drift

log = logging.getLogger(__name__)

INTENT_CACHE_SIZE = 4096
"""Add-ons on clusters whose applied objects are kept for drift checks (others re-render)."""

Render = Callable[[], Awaitable[list[Object]]]


class Healer:
    """Drift checks and repairs, for every target in drift-detection mode."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._intents: OrderedDict[tuple[str, str], tuple[str, list[Object]]] = OrderedDict()
        self._checked: dict[str, float] = {}

    def due(self, target: str) -> bool:
        """Whether ``target`` is to be checked now (and note that it is)."""
        now = time.monotonic()
        if now - self._checked.get(target, -inf) < self._period * 0.9:
            return False
        self._checked[target] = now
        return True

    def remember(self, target: str, addon: str, input_hash: str, objects: list[Object]) -> None:
        """Keep what an add-on applied on a target, for the next check."""
        key = (target, addon)
        self._intents[key] = (input_hash, objects)
        self._intents.move_to_end(key)
        while len(self._intents) > INTENT_CACHE_SIZE:
            self._intents.popitem(last=False)

    def forget(self, target: str) -> None:
        """Drop what is kept about a target that is no more."""
        self._checked.pop(target, None)
        for key in [k for k in self._intents if k[0] == target]:
            del self._intents[key]

    async def heal(
        self,
        client: KubeClient,
        target: str,
        owner: Owner,
        addon: AddonSpec,
        input_hash: str,
        render: Render,
    ) -> int:
        """Re-apply every object of ``addon`` that drifted; return how many."""
        intent = self._intents.get((target, addon.name))
        if intent is not None and intent[0] == input_hash:
            objects = intent[1]
        else:
            objects = await render()
            self.remember(target, addon.name, input_hash, objects)
        live = await read_owned(client, owner, {kind_key(o) for o in objects})
        repaired = 0
        for obj in objects:
            drift = find_drift(
                obj, live.get(identity(obj)), exclusions_for(obj, addon.drift_exclusions)
            )
            if drift:
                log.info("drift in %s (%s): %s", describe(obj), addon.name, ", ".join(drift))
                await apply_object(client, obj, force=True)
                repaired += 1
        return repaired
