"""What the EventTrigger controller keeps of each trigger, and the evaluation of its clusters.

`function.reconciler.triggers` reconciles one trigger at a time; between reconciles it keeps
a `TriggerMemory`: the verdicts of the rule per object (so an unchanged object is not judged
again), the matching set and last outcome per source cluster, and what a reconcile composed
or confirmed (the status last composed and the one last written, each cluster's status entry,
the bundles found to be as wanted), so that an event on one source cluster costs work for that
cluster, not for the whole fleet. Which clusters changed is ``touched``; ``scope`` (the rules
and the selected clusters) says when everything must be looked at again.

The status is composed by every reconcile but written later, once per burst of changes
(`StatusDebt`): Events are decided against the status last composed, which a write
not made yet does not hold back.

`evaluate` runs the rule over the watched objects of the clusters to look at, with no I/O.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from function.errors import LuaError
from function.lua.events import EventRules
from function.model.events import EventTriggerStatus
from function.model.notifications import NotificationStatus
from function.model.objects import Object, meta
from function.reconciler.eventwatch import KindView, WatchKey
from function.reconciler.store import ObjectId
from function.reconciler.triggerplan import ResourceKey, next_matching, observe
from function.reconciler.triggerstatus import (
    ClusterOutcome,
    EntryCache,
    read_trigger_status,
)


@dataclass
class TriggerMemory:
    """What the controller keeps of one trigger between reconciles."""

    rules: tuple[str, int, int] | None = None
    """(EventSource uid, generation, trigger generation) the verdicts below were made under."""
    verdicts: dict[str, dict[ResourceKey, tuple[str, bool, str | None]]] = field(
        default_factory=dict
    )
    """Per source cluster: object → (resourceVersion, matched, message)."""
    matching: dict[str, frozenset[ResourceKey]] = field(default_factory=dict)
    written: Object | None = None
    deliveries: dict[str, NotificationStatus] = field(default_factory=dict)
    """The latest outcome per notification target, as deliveries report it."""
    parsed: list[tuple[Object, EventTriggerStatus | None]] = field(default_factory=list)
    """The last statuses read (as stored, and as parsed): the same status is parsed once."""
    entries: EntryCache = field(default_factory=dict)
    """Per source cluster, its last status entry and what it was composed from."""
    confirmed: dict[str, tuple[str, Object]] = field(default_factory=dict)
    """Per bundle: the resourceVersion at which it was found (or made) to be the bundle
    wanted, and that bundle; the same pair needs no comparison again."""
    watching: tuple[object, ...] | None = None
    """The ``scope`` the watches were last asked for."""
    outcomes: dict[str, ClusterOutcome | None] = field(default_factory=dict)
    """Per selected source cluster, what the last reconcile established."""
    scope: tuple[object, ...] | None = None
    """What the last reconcile that looked at every source cluster looked at: the rules and
    the selected clusters. While it holds, a reconcile looks only at the ``touched`` ones."""
    touched: set[str] = field(default_factory=set)
    """Source clusters whose watched objects or bundles changed since the last reconcile."""
    composed: EventTriggerStatus | None = None
    """The status the last reconcile composed (written or not): what the next one's Events
    and notices compare against."""
    debt: StatusDebt | None = None
    """Set while ``composed`` may differ from the status written."""
    seen: tuple[object, ...] | None = None
    """What of the trigger's object (not its status) the last reconcile read."""
    reconciles: int = 0
    """How many reconciles the trigger has had..."""
    evaluations: Counter[str] = field(default_factory=Counter)
    """...and how many times each source cluster was evaluated in them: what events cost."""

    def owe(self, composed: EventTriggerStatus, now: float) -> bool:
        """A reconcile composed ``composed``; whether it starts a debt (a write to schedule)."""
        if composed == self.composed:
            return False
        self.composed = composed
        if self.debt is None:
            self.debt = StatusDebt(since=now, changed=now)
            return True
        self.debt.changed = now
        return False

    def status_of(self, raw: Object | None) -> EventTriggerStatus | None:
        """``raw`` parsed as a trigger status, reusing the parse of an equal status."""
        for seen, status in self.parsed:
            if seen == raw:
                return status
        status = read_trigger_status({"status": raw})
        self.parsed = [*self.parsed[-1:], (copy.deepcopy(raw) if raw else {}, status)]
        return status

    def wrote(self, raw: Object, status: EventTriggerStatus) -> None:
        """``status`` was written as ``raw``: it is read back without a parse."""
        self.written = raw
        self.parsed = [*self.parsed[-1:], (raw, status)]


@dataclass
class StatusDebt:
    """The status composed and not written yet: when it was first owed and last changed, so
    that the changes of a burst go out in one write (`due`)."""

    since: float
    changed: float

    def due(self, *, quiet: float, longest: float) -> float:
        """When to write: ``quiet`` seconds after the last change, and never later than
        ``longest`` seconds after the first."""
        return min(self.changed + quiet, self.since + longest)


class StoppedError(Exception):
    """The trigger cannot be evaluated: nothing is changed, the reason is reported."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def evaluate(
    memory: TriggerMemory,
    rules: EventRules,
    clusters: list[Object],
    only: set[str] | None,
    view: Callable[[WatchKey], KindView[Object] | None],
) -> tuple[dict[str, ClusterOutcome | None], dict[str, dict[ResourceKey, Object]]]:
    """Per source cluster, the outcome — None where the watches are not synced yet. With
    ``only``, just those clusters are evaluated; the others keep their last outcome."""
    outcomes: dict[str, ClusterOutcome | None] = {}
    objects: dict[str, dict[ResourceKey, Object]] = {}
    selected = {str(meta(c)["name"]) for c in clusters}
    for name in list(memory.matching):
        if name not in selected:  # the cluster left the selection: its sets go
            del memory.matching[name]
            memory.verdicts.pop(name, None)
    for cluster in clusters:
        name = str(meta(cluster)["name"])
        if only is not None and name not in only:
            known = memory.outcomes.get(name)
            outcomes[name] = known and ClusterOutcome(cluster, known.matching, known.message, None)
            continue
        views = [view(WatchKey(ObjectId.of(cluster), g, v, k)) for g, v, k in rules.kinds()]
        if not all(v is not None and v.synced for v in views):
            outcomes[name] = None
            continue
        seen: dict[ResourceKey, Object] = {}
        for kind_view in views:
            assert isinstance(kind_view, KindView)
            seen.update(kind_view.objects)
        try:
            observation, message = observe(memory.verdicts.setdefault(name, {}), rules, seen)
        except LuaError as exc:
            raise StoppedError("RuleFailed", str(exc)) from None
        memory.evaluations[name] += 1
        before = memory.matching.get(name, frozenset())
        after = next_matching(before, observation)
        memory.matching[name] = after
        outcomes[name] = ClusterOutcome(cluster, after, message, None)
        objects[name] = seen
    memory.outcomes = dict(outcomes)
    return outcomes, objects
