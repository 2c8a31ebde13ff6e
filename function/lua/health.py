"""Lua health rules for add-ons, in the forms Sveltos scripts are written in.

The reconciler asks whether an add-on's live objects are healthy before its dependants start
(`function.reconciler.health`). An add-on's ``health.lua`` answers with a Sveltos script, run
unchanged in the sandbox of `function.lua.runtime`. Public API, for the reconcile loop::

    rule = compile_health_rule(addon.health.lua, name=addon.name)  # before applying anything
    verdicts = judge(live_objects, builtin=addon.health.builtin, rule=rule)

`compile_health_rule` raises `function.errors.LuaError` (rule name, line, reason) for a script
that is not valid Lua text or defines no ``evaluate()``; compiled rules are cached by the
script's hash. A rule is a `function.model.health.HealthRule`: called with the live
objects, it returns ``{index: Verdict}`` for the objects it has an opinion on, and raises
`LuaError` when the script fails, overruns a limit or returns the wrong shape.

Three forms are accepted, told apart by what ``evaluate()`` returns:

- HealthCheck (``evaluateHealth``): global ``resources``, the array of objects; returns
  ``{resources = {{resource = obj, status = "Healthy"|"Progressing"|"Degraded"|"Suspended",
  message = "..."}, ...}}``. Objects not listed get no verdict; ``reEvaluate`` is ignored
  (waiting add-ons are checked again anyway).
- validateHealths: global ``obj``, one object; returns ``{healthy = bool, message = "..."}``.
  Unhealthy means Progressing: the add-on waits.
- the per-object HealthCheck of ``v1alpha1``: global ``obj``; returns ``{status = ...,
  message = ..., ignore = bool}``.

A rule learns its form while judging. Until it knows, an evaluation offers both globals
(``resources``, and ``obj`` as the first object, which is also the argument) and notes which
one the script reads: ``obj`` means per-object, ``resources`` HealthCheck. A script that read
neither (it used its argument) or both is told by its result: ``healthy``, ``status`` or
``ignore`` mean per-object, ``resources`` HealthCheck; a script that read only its argument
and gave none of these is evaluated again with all objects as the argument, as a HealthCheck
taking its objects as the argument expects. A result that shows no form (``{}``) teaches
nothing, so a rule never keeps a wrong guess. Once known, a per-object rule runs once per
object, with ``obj`` as global and argument, and a HealthCheck rule once, with ``resources``
as global and argument. The form is kept on the rule, which `compile_health_rule` caches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from function.errors import LuaError
from function.lua.convert import reference, shape
from function.lua.runtime import Sandbox, Script
from function.lua.selectors import ResourceSelector, selected
from function.model.health import HEALTHY, HealthStatus, Verdict
from function.model.objects import Object, describe

DEFAULT_SANDBOX = Sandbox()
"""The sandbox of every rule compiled without one: the default `function.lua.runtime.Limits`."""

_SEVERITY = {
    HealthStatus.HEALTHY: 0,
    HealthStatus.PROGRESSING: 1,
    HealthStatus.SUSPENDED: 2,
    HealthStatus.DEGRADED: 3,
}
_STATUSES = ", ".join(s.value for s in _SEVERITY)


class Form(Enum):
    """How a health script takes its objects and gives its verdicts."""

    RESOURCES = "resources"
    """Sveltos' HealthCheck: all objects at once, a list of verdicts back."""
    PER_OBJECT = "obj"
    """validateHealths and v1alpha1 HealthCheck: one object, one verdict."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """A rule's verdicts by object index, and what its script printed."""

    verdicts: dict[int, Verdict]
    printed: tuple[str, ...] = ()


class LuaHealthRule:
    """A compiled health rule; call it with the live objects of an add-on."""

    def __init__(
        self, script: Script, sandbox: Sandbox, selectors: tuple[ResourceSelector, ...] = ()
    ) -> None:
        self.script = script
        self.sandbox = sandbox
        self.selectors = selectors
        self.form: Form | None = None

    @property
    def name(self) -> str:
        """The rule's name in error messages (the add-on's name, or a file's)."""
        return self.script.name

    def __call__(self, objects: Sequence[Object]) -> dict[int, Verdict]:
        """Verdicts for the selected objects the script has an opinion on."""
        return self.judge(objects).verdicts

    def judge(self, objects: Sequence[Object]) -> Judgement:
        """Verdicts and printed output (for ``aifleet lua test``)."""
        chosen = [(i, obj) for i, obj in enumerate(objects) if selected(obj, self.selectors)]
        if not chosen:
            return Judgement({})
        if self.form is Form.PER_OBJECT:
            return self._per_object(chosen)
        if self.form is Form.RESOURCES:
            return self._all_at_once(chosen)
        return self._probe(chosen)

    def _probe(self, chosen: Sequence[tuple[int, Object]]) -> Judgement:
        """Judge while learning the form: ``obj`` is the first object (and the argument),
        ``resources`` all of them, and the sandbox notes which of the two the script reads."""
        first_index, first = chosen[0]
        values = {"resources": [obj for _, obj in chosen], "obj": first}
        probe = self.sandbox.evaluate(self.script, values, argument="obj", note_reads=True)
        form = _form_shown(probe.read, probe.value)
        if form is None and not probe.read:
            # It read only its argument, the first object, and said nothing: a HealthCheck
            # script taking its objects as the argument must be given them all.
            return self._all_at_once(chosen)
        if form is not None:
            self.form = form  # every thread learns the same
        if form is not Form.PER_OBJECT:
            return Judgement(_listed_verdicts(self.name, probe.value, chosen), probe.printed)
        verdict = _object_verdict(self.name, probe.value, first)
        rest = self._per_object(chosen[1:])
        verdicts = rest.verdicts if verdict is None else {first_index: verdict} | rest.verdicts
        return Judgement(verdicts, probe.printed + rest.printed)

    def _all_at_once(self, chosen: Sequence[tuple[int, Object]]) -> Judgement:
        everything = [obj for _, obj in chosen]
        evaluation = self.sandbox.evaluate(
            self.script, {"resources": everything}, argument="resources"
        )
        if isinstance(evaluation.value, dict) and "resources" in evaluation.value:
            self.form = Form.RESOURCES
        verdicts = _listed_verdicts(self.name, evaluation.value, chosen)
        return Judgement(verdicts, evaluation.printed)

    def _per_object(self, chosen: Sequence[tuple[int, Object]]) -> Judgement:
        verdicts: dict[int, Verdict] = {}
        printed: list[str] = []
        for index, obj in chosen:
            evaluation = self.sandbox.evaluate(self.script, {"obj": obj}, argument="obj")
            printed.extend(evaluation.printed)
            verdict = _object_verdict(self.name, evaluation.value, obj)
            if verdict is not None:
                verdicts[index] = verdict
        return Judgement(verdicts, tuple(printed))


def _form_shown(read: frozenset[str], result: Any) -> Form | None:
    """The form a probing evaluation shows, or None if it shows none.

    The global the script read decides. One that read both, or neither (it used its argument),
    is told by its result: ``resources`` for a HealthCheck, ``healthy``, ``status`` or
    ``ignore`` for a per-object answer. A result with none of them (``{}``: a HealthCheck with
    nothing to say) decides nothing, and the next call probes again.
    """
    if read == {"obj"}:
        return Form.PER_OBJECT
    if read == {"resources"}:
        return Form.RESOURCES
    if not isinstance(result, dict):
        return None
    if "resources" in result:
        return Form.RESOURCES
    if not _PER_OBJECT_KEYS.isdisjoint(result):
        return Form.PER_OBJECT
    return None


_PER_OBJECT_KEYS = frozenset({"healthy", "status", "ignore"})


def compile_health_rule(
    source: str,
    *,
    name: str,
    selectors: Sequence[ResourceSelector] = (),
    sandbox: Sandbox = DEFAULT_SANDBOX,
) -> LuaHealthRule:
    """Check ``source`` once and return it as a health rule; raise `LuaError` if it is bad.

    Rules are cached: the same script, name, selectors and sandbox give the same rule.
    """
    return _compiled(source, name, tuple(selectors), sandbox)


@lru_cache(maxsize=1024)
def _compiled(
    source: str, name: str, selectors: tuple[ResourceSelector, ...], sandbox: Sandbox
) -> LuaHealthRule:
    return LuaHealthRule(sandbox.compile(source, name=name), sandbox, selectors)


def _listed_verdicts(
    rule: str, result: Any, chosen: Sequence[tuple[int, Object]]
) -> dict[int, Verdict]:
    """Verdicts from ``{resources = {{resource=, status=, message=}, ...}}``."""
    if not isinstance(result, dict):
        raise LuaError(
            rule, f"evaluate() must return a table with 'resources', not {shape(result)}"
        )
    entries = result.get("resources", [])
    if entries == {}:
        entries = []  # an empty Lua table converts to an object
    if not isinstance(entries, list):
        raise LuaError(rule, f"'resources' must be a list of verdicts, not {shape(entries)}")
    objects = dict(chosen)
    by_identity = {id(obj): i for i, obj in chosen}
    verdicts: dict[int, Verdict] = {}
    for n, entry in enumerate(entries, start=1):
        where = f"resources[{n}]"
        if not isinstance(entry, dict):
            raise LuaError(rule, f"{where} must be a table, not {shape(entry)}")
        index = _index_of(entry.get("resource"), chosen, by_identity)
        if index is None:
            raise LuaError(rule, f"{where}.resource must be one of the objects passed in")
        verdict = _verdict(rule, where, objects[index], entry.get("status"), entry.get("message"))
        previous = verdicts.get(index)
        if previous is None or _SEVERITY[verdict.status] > _SEVERITY[previous.status]:
            verdicts[index] = verdict
    return verdicts


def _index_of(
    resource: Any, chosen: Sequence[tuple[int, Object]], by_identity: Mapping[int, int]
) -> int | None:
    """Which object passed in ``resource`` is: that very object (what scripts return), or
    the one with its apiVersion, kind, namespace and name (a copy the script built)."""
    index = by_identity.get(id(resource))
    if index is not None or not isinstance(resource, dict):
        return index
    wanted = reference(resource)
    return next((i for i, obj in chosen if reference(obj) == wanted), None)


def _object_verdict(rule: str, result: Any, obj: Object) -> Verdict | None:
    """The verdict of ``{healthy=, message=}`` or ``{status=, message=, ignore=}``."""
    if not isinstance(result, dict):
        raise LuaError(rule, f"evaluate() must return a table, not {shape(result)}")
    message = result.get("message")
    if "healthy" in result:
        healthy = result["healthy"]
        if not isinstance(healthy, bool):
            raise LuaError(rule, f"'healthy' must be a boolean, not {shape(healthy)}")
        status = HealthStatus.HEALTHY if healthy else HealthStatus.PROGRESSING
        return _verdict(rule, "result", obj, status.value, message or "not healthy yet")
    if result.get("ignore") is True:
        return None
    if "status" not in result:
        raise LuaError(rule, "evaluate() must return {healthy = ...} or {status = ...}")
    return _verdict(rule, "result", obj, result["status"], message)


def _verdict(rule: str, where: str, obj: Object, status: Any, message: Any) -> Verdict:
    if not isinstance(status, str) or status not in _STATUS_VALUES:
        raise LuaError(rule, f"{where}.status must be one of {_STATUSES}, not {status!r}")
    if message is not None and not isinstance(message, str):
        raise LuaError(rule, f"{where}.message must be a string, not {shape(message)}")
    health = HealthStatus(status)
    if health is HealthStatus.HEALTHY:
        return HEALTHY
    return Verdict(health, f"{describe(obj)}: {message or health.value}")


_STATUS_VALUES = frozenset(s.value for s in HealthStatus)
