"""Event rules: which objects of a workload cluster are events, by Sveltos' EventSource Lua.

An EventSource (`function.model.events.EventSourceSpec`) selects objects with
``resourceSelectors``; a selector's ``evaluate`` script reads the global ``obj`` (also passed
as the argument) and returns ``{matching = bool, message = "..."}``; a selector without a
script matches every object it selects. With ``aggregatedSelection``, the objects the
selectors matched are passed together as the global ``resources`` (and the argument), and the
script returns ``{resources = {obj, ...}, message = "..."}``: the events. Scripts written for
Sveltos run unchanged, in the sandbox of `function.lua.runtime`. Public API::

    rules = compile_event_source(spec, name="gpu-hot")   # LuaError for a script that is bad
    rules.match_object(obj)      # ObjectMatch: the selectors' verdict on one object
    rules.evaluate(objects)      # EventOutcome: which of the objects are events

`match_object` is what the reconciler runs on every change of a watched object
(`function.reconciler.triggers`); `aggregate` re-runs the aggregated selection over the objects
that matched. Only the fields a script can read go into Lua (`function.lua.reach`), and
`evaluate` runs each selector's script over its objects in batches (`Sandbox.each`).
``aifleet lua test`` runs event cases through `evaluate` (`function.lua.eventcase`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from function.errors import LuaError
from function.lua.convert import reference, shape
from function.lua.reach import reachable_names
from function.lua.runtime import Sandbox, Script
from function.model.events import EventResourceSelector, EventSourceSpec

DEFAULT_SANDBOX = Sandbox()
"""The sandbox of event rules compiled without one: the default limits."""

Object = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ObjectMatch:
    """The selectors' verdict on one object."""

    selected: bool
    """Whether any selector selects the object at all (kind, namespace, name, labels)."""
    matching: bool
    message: str | None = None
    printed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """Which of the objects passed in are events (by index, in order), and why."""

    matching: tuple[int, ...]
    message: str | None = None
    printed: tuple[str, ...] = ()


class EventRules:
    """A compiled EventSource: its selectors, their scripts, and the aggregated selection."""

    def __init__(self, spec: EventSourceSpec, name: str, sandbox: Sandbox) -> None:
        self.spec = spec
        self.name = name
        self.sandbox = sandbox
        self._scripts: tuple[tuple[EventResourceSelector, Script | None], ...] = tuple(
            (
                selector,
                None
                if not (selector.evaluate or "").strip()
                else sandbox.compile(
                    selector.evaluate or "", name=f"{name}/resourceSelectors[{i}]"
                ),
            )
            for i, selector in enumerate(spec.resource_selectors)
        )
        aggregated = (spec.aggregated_selection or "").strip()
        self._aggregated = (
            sandbox.compile(aggregated, name=f"{name}/aggregatedSelection") if aggregated else None
        )

    @property
    def aggregated(self) -> bool:
        """Whether an aggregated selection decides over all matched objects together."""
        return self._aggregated is not None

    def kinds(self) -> list[tuple[str, str, str]]:
        """The (group, version, kind) of every selector, in order, without repeats; an empty
        version means any version the cluster serves."""
        seen: dict[tuple[str, str, str], None] = {}
        for selector in self.spec.resource_selectors:
            seen.setdefault((selector.group, selector.version, selector.kind), None)
        return list(seen)

    def match_object(self, obj: Object) -> ObjectMatch:
        """Run the script of every selector that selects ``obj``; it matches if one says so."""
        printed: list[str] = []
        selected = False
        message: str | None = None
        for selector, script in self._scripts:
            if not selector.matches(obj):
                continue
            selected = True
            if script is None:
                return ObjectMatch(True, True, None, tuple(printed))
            fields = reachable_names(script.source)
            (evaluation,) = self.sandbox.evaluate_each(script, [obj], argument="obj", fields=fields)
            printed.extend(evaluation.printed)
            matching, message = _object_result(script.name, evaluation.value)
            if matching:
                return ObjectMatch(True, True, message, tuple(printed))
        return ObjectMatch(selected, False, message, tuple(printed))

    def aggregate(self, candidates: Sequence[Object]) -> EventOutcome:
        """The aggregated selection over ``candidates`` (all of them without one)."""
        if self._aggregated is None:
            return EventOutcome(tuple(range(len(candidates))))
        if not candidates:
            return EventOutcome(())
        everything = list(candidates)
        evaluation = self.sandbox.evaluate(
            self._aggregated, {"resources": everything}, argument="resources"
        )
        indices, message = _aggregated_result(self._aggregated.name, evaluation.value, everything)
        return EventOutcome(indices, message, evaluation.printed)

    def evaluate(self, objects: Sequence[Object]) -> EventOutcome:
        """Which of ``objects`` are events: the selectors' matches, then the aggregation."""
        candidates, message, printed = self._match_all(objects)
        if self._aggregated is None:
            return EventOutcome(tuple(candidates), message, tuple(printed))
        outcome = self.aggregate([objects[i] for i in candidates])
        chosen = tuple(candidates[j] for j in outcome.matching)
        return EventOutcome(chosen, outcome.message, (*printed, *outcome.printed))

    def _match_all(self, objects: Sequence[Object]) -> tuple[list[int], str | None, list[str]]:
        """`match_object` over all of ``objects``, each selector's script run over the objects
        it selects (and no earlier selector matched) in one batch: the indices that match, the
        last match's message, and what the scripts printed."""
        matched: dict[int, str | None] = {}
        printed: list[str] = []
        for selector, script in self._scripts:
            selected = [
                i for i, obj in enumerate(objects) if i not in matched and selector.matches(obj)
            ]
            if script is None:
                matched.update(dict.fromkeys(selected))
                continue
            fields = reachable_names(script.source)
            evaluations = self.sandbox.each(
                script, (objects[i] for i in selected), argument="obj", fields=fields
            )
            for i, (value, lines, _) in zip(selected, evaluations, strict=True):
                if lines:
                    printed.extend(lines)
                matching, message = _object_result(script.name, value)
                if matching:
                    matched[i] = message
        candidates = sorted(matched)
        message = None
        for i in candidates:
            message = matched[i] or message
        return candidates, message, printed


def compile_event_source(
    spec: EventSourceSpec, *, name: str, sandbox: Sandbox = DEFAULT_SANDBOX
) -> EventRules:
    """Load every script of ``spec`` once; raise `LuaError` (naming the selector and line) for
    a script that is not valid Lua text or defines no ``evaluate()``. Cached by spec and name."""
    return _compiled(spec, name, sandbox)


@lru_cache(maxsize=512)
def _compiled(spec: EventSourceSpec, name: str, sandbox: Sandbox) -> EventRules:
    return EventRules(spec, name, sandbox)


def _object_result(rule: str, value: Any) -> tuple[bool, str | None]:
    """``{matching = bool, message = string}``; an absent ``matching`` is false, as in Go."""
    if type(value) is dict:  # the common case, checked in fewer steps
        matching, message = value.get("matching", False), value.get("message")
        if type(matching) is bool and (message is None or type(message) is str):
            return matching, message or None
    if not isinstance(value, dict):
        raise LuaError(rule, f"evaluate() must return a table, not {shape(value)}")
    matching = value.get("matching", False)
    if not isinstance(matching, bool):
        raise LuaError(rule, f"'matching' must be a boolean, not {shape(matching)}")
    return matching, _message(rule, value)


def _aggregated_result(
    rule: str, value: Any, candidates: Sequence[Object]
) -> tuple[tuple[int, ...], str | None]:
    """``{resources = {obj, ...}, message = string}``: the indices of the returned objects."""
    if not isinstance(value, dict):
        raise LuaError(rule, f"evaluate() must return a table, not {shape(value)}")
    entries = value.get("resources", [])
    if entries == {}:
        entries = []  # an empty Lua table converts to an object
    if not isinstance(entries, list):
        raise LuaError(rule, f"'resources' must be a list of objects, not {shape(entries)}")
    by_identity = {id(obj): i for i, obj in enumerate(candidates)}
    by_reference = {reference(obj): i for i, obj in enumerate(candidates)}
    chosen: dict[int, None] = {}
    for n, entry in enumerate(entries, start=1):
        index = by_identity.get(id(entry))
        if index is None and isinstance(entry, dict):
            index = by_reference.get(reference(entry))
        if index is None:
            raise LuaError(rule, f"resources[{n}] must be one of the objects passed in")
        chosen.setdefault(index, None)
    return tuple(sorted(chosen)), _message(rule, value)


def _message(rule: str, value: dict[str, Any]) -> str | None:
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        raise LuaError(rule, f"'message' must be a string, not {shape(message)}")
    return message or None
