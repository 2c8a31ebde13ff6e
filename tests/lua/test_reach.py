"""Which fields an event rule can read: pruning never changes what a rule decides."""

from __future__ import annotations

import pytest

from function.lua.events import compile_event_source
from function.lua.reach import reachable_names
from function.lua.runtime import Sandbox
from function.model.events import parse_event_source_spec


@pytest.mark.parametrize(
    "source",
    [
        "for k, v in pairs(obj) do end",
        "x = obj.a[k]",
        'x = obj.a["k"] .. "\\n"',
        'x = getLabel(obj, "a")',
        'x = obj.a["b" .. c]',
        "x = json.encode(obj)",
        "x = rawget(obj, 'a')",
    ],
)
def test_a_script_that_can_reach_any_field_is_not_pruned(source: str) -> None:
    assert reachable_names(source) is None


def test_names_come_from_code_and_literals_not_comments() -> None:
    names = reachable_names('x = obj.metadata.labels["app.kubernetes.io/name"] -- note\ny = o[1]')
    assert names is not None
    assert {"obj", "metadata", "labels", "app.kubernetes.io/name", "o"} <= names
    assert "note" not in names


def test_only_named_fields_go_into_lua_and_every_list_element() -> None:
    sandbox = Sandbox()
    script = sandbox.compile("function evaluate() return obj end", name="probe")
    obj = {"spec": {"replicas": 2, "template": {"x": 1}}, "items": [{"spec": 1, "y": 2}, 3]}
    (seen,) = sandbox.evaluate_each(
        script, [obj], argument="obj", fields=frozenset({"spec", "replicas", "items"})
    )
    assert seen.value == {"spec": {"replicas": 2}, "items": [{"spec": 1}, 3]}


def test_a_rule_decides_the_same_over_the_pruned_object() -> None:
    rule = """
function evaluate()
  local labels = obj.metadata.labels or {}
  if labels["app.kubernetes.io/name"] == "vllm" and (obj.status or {}).ready == false then
    return {matching = true, message = obj.metadata.name .. " not ready"}
  end
  return {matching = false}
end
"""
    spec = parse_event_source_spec(
        {
            "resourceSelectors": [
                {"group": "", "version": "v1", "kind": "ConfigMap", "evaluate": rule}
            ]
        }
    )
    rules = compile_event_source(spec, name="probe")
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"m{i}", "labels": {"app.kubernetes.io/name": "vllm"}},
            "status": {"ready": i % 2 == 0, "noise": {"a": [1, 2]}},
        }
        for i in range(4)
    ]
    outcome = rules.evaluate(objects)
    assert outcome.matching == (1, 3)
    assert outcome.message == "m3 not ready"
    assert rules.match_object(objects[1]).message == "m1 not ready"
