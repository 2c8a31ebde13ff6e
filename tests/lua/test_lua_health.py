"""Health rules: Sveltos' three script forms, selectors, shape errors, and the reconciler's
`judge` combining a rule with the built-in checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from function.errors import LuaError
from function.lua.health import DEFAULT_SANDBOX, Form, compile_health_rule
from function.lua.runtime import Limits, Sandbox
from function.lua.selectors import ResourceSelector
from function.model.common import parse
from function.model.health import HEALTHY, HealthStatus, Verdict
from function.reconciler.health import judge


def deployment(name: str, want: int, available: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "models", "generation": 1},
        "spec": {"replicas": want},
        "status": {"observedGeneration": 1, "availableReplicas": available},
    }


CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}

HEALTHCHECK = """
function evaluate()
  local hs = {}
  local statuses = {}
  for _, r in ipairs(resources) do
    if r.kind == "Deployment" then
      local s = {resource = r, status = "Healthy"}
      if r.status.availableReplicas ~= r.spec.replicas then
        s.status = "Progressing"
        s.message = r.status.availableReplicas .. "/" .. r.spec.replicas .. " available"
      end
      table.insert(statuses, s)
    end
  end
  if #statuses > 0 then hs.resources = statuses end
  return hs
end
"""

VALIDATE_HEALTHS = """
function evaluate(obj)
  local hs = {healthy = false, message = "available replicas not matching requested replicas"}
  if obj.status and obj.status.availableReplicas == obj.spec.replicas then hs.healthy = true end
  return hs
end
"""

V1ALPHA1 = """
function evaluate()
  hs = {status = "Healthy", ignore = obj.kind ~= "Deployment"}
  if obj.spec and obj.spec.paused then hs.status = "Suspended"; hs.message = "paused" end
  return hs
end
"""


def rule(source: str, **kwargs: Any) -> Any:
    return compile_health_rule(source, name="model", sandbox=Sandbox(), **kwargs)


def test_healthcheck_form_gives_verdicts_for_the_listed_objects() -> None:
    health = rule(HEALTHCHECK)
    objects = [deployment("a", 2, 2), CONFIG_MAP, deployment("b", 2, 1)]
    for _ in range(2):  # the first call learns the form, the second uses it
        assert health(objects) == {
            0: HEALTHY,
            2: Verdict(HealthStatus.PROGRESSING, "Deployment models/b: 1/2 available"),
        }
    assert health.form is Form.RESOURCES


def test_healthcheck_form_with_nothing_to_say_has_no_opinion() -> None:
    assert rule(HEALTHCHECK)([CONFIG_MAP]) == {}


def test_validate_healths_form_runs_once_per_object() -> None:
    health = rule(VALIDATE_HEALTHS)
    objects = [deployment("a", 1, 1), deployment("b", 3, 0), deployment("c", 1, 1)]
    expected = {
        0: HEALTHY,
        1: Verdict(
            HealthStatus.PROGRESSING,
            "Deployment models/b: available replicas not matching requested replicas",
        ),
        2: HEALTHY,
    }
    assert health(objects) == expected
    assert health.form is Form.PER_OBJECT
    assert health(objects) == expected


def test_per_object_status_form_can_ignore_and_suspend() -> None:
    paused = deployment("paused", 1, 0) | {"spec": {"replicas": 1, "paused": True}}
    verdicts = rule(V1ALPHA1)([CONFIG_MAP, paused, deployment("ok", 1, 1)])
    assert verdicts == {
        1: Verdict(HealthStatus.SUSPENDED, "Deployment models/paused: paused"),
        2: HEALTHY,
    }


IGNORES_ALL_BUT_DEPLOYMENTS = """
function evaluate()
  if obj.kind ~= "Deployment" then return {ignore = true} end
  if obj.status.availableReplicas == obj.spec.replicas then return {status = "Healthy"} end
  return {status = "Progressing", message = "rolling out"}
end
"""


def test_a_per_object_rule_that_ignores_its_first_object_keeps_judging_each_object() -> None:
    health = rule(IGNORES_ALL_BUT_DEPLOYMENTS)
    rolling = Verdict(HealthStatus.PROGRESSING, "Deployment models/b: rolling out")
    calls = [
        ([CONFIG_MAP, deployment("a", 1, 1), deployment("b", 2, 1)], {1: HEALTHY, 2: rolling}),
        ([deployment("b", 2, 1), CONFIG_MAP], {0: rolling}),
        ([CONFIG_MAP], {}),
        ([CONFIG_MAP, CONFIG_MAP, deployment("a", 1, 1)], {2: HEALTHY}),
    ]
    for objects, expected in calls * 2:
        assert health(objects) == expected
    assert health.form is Form.PER_OBJECT


def test_a_per_object_rule_is_known_by_the_global_it_reads_even_when_its_answer_is_bad() -> None:
    source = """function evaluate()
      if obj.kind == "Deployment" then return {status = "Healthy"} end
      return {}
    end"""
    for objects in ([CONFIG_MAP, deployment("a", 1, 1)], [deployment("a", 1, 1), CONFIG_MAP]):
        with pytest.raises(LuaError) as caught:
            rule(source)(objects)
        assert caught.value.reason == "evaluate() must return {healthy = ...} or {status = ...}"


def test_a_healthcheck_with_nothing_to_say_at_first_still_judges_later() -> None:
    health = rule(HEALTHCHECK)
    assert health([CONFIG_MAP]) == {}
    assert health([CONFIG_MAP, deployment("b", 2, 1)]) == {
        1: Verdict(HealthStatus.PROGRESSING, "Deployment models/b: 1/2 available")
    }


def test_a_healthcheck_taking_its_objects_as_the_argument_sees_them_all_from_the_start() -> None:
    source = """function evaluate(objects)
      local statuses = {}
      for _, r in ipairs(objects) do
        if r.kind == "Deployment" and r.status.availableReplicas == 0 then
          table.insert(statuses, {resource = r, status = "Degraded", message = "none available"})
        end
      end
      if #statuses > 0 then return {resources = statuses} end
      return {}
    end"""
    health = rule(source)
    down = Verdict(HealthStatus.DEGRADED, "Deployment models/down: none available")
    objects = [deployment("up", 1, 1), deployment("down", 1, 0)]
    assert health(objects) == {1: down}
    assert health([CONFIG_MAP]) == {}
    assert health(objects) == {1: down}
    assert health.form is Form.RESOURCES


def test_the_worst_verdict_for_an_object_wins() -> None:
    source = """function evaluate()
      return {resources = {
        {resource = resources[1], status = "Degraded", message = "crash loop"},
        {resource = resources[1], status = "Healthy"},
      }}
    end"""
    assert rule(source)([deployment("a", 1, 1)]) == {
        0: Verdict(HealthStatus.DEGRADED, "Deployment models/a: crash loop")
    }


def test_a_resource_rebuilt_by_the_script_is_matched_by_reference() -> None:
    source = """function evaluate()
      local r = resources[1]
      local copy = {apiVersion = r.apiVersion, kind = r.kind,
                    metadata = {name = r.metadata.name, namespace = r.metadata.namespace}}
      return {resources = {{resource = copy, status = "Degraded"}}}
    end"""
    assert rule(source)([deployment("a", 1, 1)]) == {
        0: Verdict(HealthStatus.DEGRADED, "Deployment models/a: Degraded")
    }


def test_an_empty_resources_table_means_no_opinion() -> None:
    source = "function evaluate() return {resources = {}} end"
    assert rule(source)([deployment("a", 1, 0)]) == {}


def test_selectors_choose_what_the_script_sees() -> None:
    selector = parse(
        ResourceSelector,
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "models"},
    )
    elsewhere = deployment("x", 1, 0)
    elsewhere["metadata"]["namespace"] = "other"
    health = rule(VALIDATE_HEALTHS, selectors=[selector])
    assert health([CONFIG_MAP, deployment("a", 1, 1), elsewhere]) == {1: HEALTHY}


def test_label_filters_narrow_the_selection() -> None:
    selector = parse(
        ResourceSelector,
        {
            "kind": "ConfigMap",
            "labelFilters": [
                {"key": "tier", "operation": "Equal", "value": "gpu"},
                {"key": "legacy", "operation": "DoesNotHave"},
            ],
        },
    )
    chosen = CONFIG_MAP | {"metadata": {"name": "a", "labels": {"tier": "gpu"}}}
    legacy = CONFIG_MAP | {"metadata": {"name": "b", "labels": {"tier": "gpu", "legacy": "1"}}}
    source = 'function evaluate() return {status = "Degraded", message = obj.metadata.name} end'
    assert rule(source, selectors=[selector])([legacy, chosen, CONFIG_MAP]) == {
        1: Verdict(HealthStatus.DEGRADED, "ConfigMap a: a")
    }


FIRST = "resource = resources[1]"


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ("42", "must return a table with 'resources', not a number"),
        ("{resources = 'x'}", "'resources' must be a list of verdicts, not a string ('x')"),
        (
            f"{{resources = {{{{{FIRST}, status = 'Fine'}}}}}}",
            "resources[1].status must be one of Healthy, Progressing, Suspended, Degraded, "
            "not 'Fine'",
        ),
        (
            "{resources = {{status = 'Healthy'}}}",
            "resources[1].resource must be one of the objects passed in",
        ),
        (
            "{resources = {{resource = {kind = 'Pod'}, status = 'Healthy'}}}",
            "resources[1].resource must be one of the objects passed in",
        ),
        (
            f"{{resources = {{{{{FIRST}, status = 'Degraded', message = 3}}}}}}",
            "resources[1].message must be a string, not a number (3)",
        ),
        ("{healthy = 'yes'}", "'healthy' must be a boolean"),
    ],
)
def test_results_of_the_wrong_shape_fail_with_a_precise_message(result: str, reason: str) -> None:
    with pytest.raises(LuaError) as caught:
        rule(f"function evaluate() return {result} end")([deployment("a", 1, 1)])
    assert reason in caught.value.reason
    assert caught.value.rule == "model"


def test_a_bad_script_fails_at_compile_time_with_its_line() -> None:
    with pytest.raises(LuaError) as caught:
        compile_health_rule("function evaluate()\n  return {\nend", name="gpu-operator")
    assert caught.value.rule == "gpu-operator"
    assert caught.value.line == 3


def test_a_runtime_error_names_the_rule_and_line() -> None:
    source = "function evaluate()\n  return {healthy = obj.status.ready.now}\nend"
    with pytest.raises(LuaError) as caught:
        rule(source)([CONFIG_MAP])
    assert (caught.value.rule, caught.value.line) == ("model", 2)


def test_a_runaway_rule_is_stopped() -> None:
    sandbox = Sandbox(Limits(max_instructions=100_000))
    health = compile_health_rule(
        "function evaluate() while true do end end", name="spin", sandbox=sandbox
    )
    with pytest.raises(LuaError, match="instruction limit"):
        health([CONFIG_MAP])


def test_a_rule_compiled_again_keeps_what_it_learned_and_judges_the_same() -> None:
    sandbox = Sandbox()
    objects = [CONFIG_MAP, deployment("a", 1, 1), deployment("b", 2, 1)]
    expected = compile_health_rule(IGNORES_ALL_BUT_DEPLOYMENTS, name="a", sandbox=sandbox)(objects)
    again = compile_health_rule(IGNORES_ALL_BUT_DEPLOYMENTS, name="a", sandbox=sandbox)
    assert again.form is Form.PER_OBJECT  # not compiled and probed anew
    assert again(objects) == expected
    assert again(objects[::-1]) == {0: expected[2], 1: expected[1]}
    assert compile_health_rule(VALIDATE_HEALTHS, name="a", sandbox=sandbox).form is None


def test_a_cached_rule_never_lends_its_name_or_limits_to_another() -> None:
    source = "function evaluate()\n  return {healthy = obj.status.ready.now}\nend"
    compile_health_rule(source, name="first", sandbox=DEFAULT_SANDBOX)
    with pytest.raises(LuaError) as caught:
        compile_health_rule(source, name="second", sandbox=DEFAULT_SANDBOX)([CONFIG_MAP])
    assert (caught.value.rule, caught.value.line) == ("second", 2)
    spin = "function evaluate() while true do end end"
    compile_health_rule(spin, name="spin")
    tight = Sandbox(Limits(max_instructions=50_000))
    with pytest.raises(LuaError, match=r"instruction limit \(50,000\)"):
        compile_health_rule(spin, name="spin", sandbox=tight)([CONFIG_MAP])


def test_judge_prefers_the_rule_and_falls_back_to_built_in_checks() -> None:
    short = deployment("short", 2, 1)  # built-in: Progressing
    accepted = deployment("accepted", 4, 1)
    source = """function evaluate()
      for _, r in ipairs(resources) do
        if r.metadata.name == "accepted" then
          return {resources = {{resource = r, status = "Healthy"}}}
        end
      end
      return {}
    end"""
    verdicts = judge([short, accepted, CONFIG_MAP], rule=rule(source))
    assert [v.status for v in verdicts] == [
        HealthStatus.PROGRESSING,
        HealthStatus.HEALTHY,
        HealthStatus.HEALTHY,
    ]
    without_builtin = judge([short, accepted], builtin=False, rule=rule(source))
    assert [v.healthy for v in without_builtin] == [True, True]
    assert [v.healthy for v in judge([short, accepted])] == [False, False]


def test_a_rule_can_be_called_from_several_threads() -> None:
    health = rule(HEALTHCHECK)
    objects = [deployment(f"d{i}", 2, i % 3) for i in range(12)]
    expected = health(objects)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: health(objects), range(40)))
    assert all(r == expected for r in results)
    assert sorted(i for i, v in expected.items() if v.healthy) == [2, 5, 8, 11]
