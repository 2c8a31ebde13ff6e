"""EventSource Lua: Sveltos' event contract (``obj`` → matching/message, ``resources`` →
resources for aggregatedSelection), its errors, event cases and ``aifleet lua test``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from function.errors import LuaError
from function.lua.cli import lua
from function.lua.eventcase import find_event_cases, run_event_case, run_event_cases
from function.lua.events import compile_event_source
from function.model.events import parse_event_source_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "lua"

HOT = """
function evaluate()
  local value = tonumber((obj.data or {}).utilization or "0")
  print("utilization " .. value)
  return {matching = value > 80, message = "at " .. value .. "%"}
end
"""


def config_map(name: str, utilization: str, namespace: str = "monitoring") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"utilization": utilization},
    }


def source(**spec: object) -> dict[str, object]:
    return {"resourceSelectors": [{"kind": "ConfigMap", "evaluate": HOT}], **spec}


def test_every_shipped_event_case_passes() -> None:
    results = run_event_cases(EXAMPLES / "events")
    assert [f"{r.case.name}/{r.file}: {r.problems}" for r in results if not r.passed] == []
    assert len(find_event_cases(EXAMPLES / "events")) >= 20
    assert {r.file for r in results} == {"matching.yaml", "non-matching.yaml"}


def test_an_object_matches_by_its_selectors_script() -> None:
    rules = compile_event_source(parse_event_source_spec(source()), name="hot")
    hot = rules.match_object(config_map("gpu", "91"))
    assert (hot.selected, hot.matching, hot.message) == (True, True, "at 91%")
    assert hot.printed == ("utilization 91",)
    cold = rules.match_object(config_map("gpu", "12"))
    assert (cold.selected, cold.matching, cold.message) == (True, False, "at 12%")
    pod = rules.match_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    assert (pod.selected, pod.matching) == (False, False)


def test_a_selector_without_a_script_matches_what_it_selects() -> None:
    spec = {
        "resourceSelectors": [
            {
                "kind": "ConfigMap",
                "namespace": "models",
                "labelFilters": [{"key": "canary", "operation": "Has"}],
            }
        ]
    }
    rules = compile_event_source(parse_event_source_spec(spec), name="canary")
    labelled = config_map("a", "1", "models")
    labelled["metadata"] = {"name": "a", "namespace": "models", "labels": {"canary": "yes"}}
    outcome = rules.evaluate([config_map("b", "1", "models"), labelled])
    assert outcome.matching == (1,)


def test_an_aggregated_selection_decides_over_the_matched_objects() -> None:
    aggregated = """
    function evaluate()
      local hs = {message = #resources .. " hot"}
      if #resources >= 2 then hs.resources = resources end
      return hs
    end
    """
    rules = compile_event_source(
        parse_event_source_spec(source(aggregatedSelection=aggregated)), name="agg"
    )
    one = rules.evaluate([config_map("a", "90"), config_map("b", "10")])
    assert (one.matching, one.message) == ((), "1 hot")
    two = rules.evaluate([config_map("a", "90"), config_map("b", "10"), config_map("c", "95")])
    assert (two.matching, two.message) == ((0, 2), "2 hot")


def test_an_aggregated_selection_may_return_copies_by_reference() -> None:
    aggregated = """
    function evaluate()
      local out = {}
      for _, r in ipairs(resources) do
        table.insert(out, {apiVersion = r.apiVersion, kind = r.kind,
                           metadata = {namespace = r.metadata.namespace, name = r.metadata.name}})
      end
      return {resources = out}
    end
    """
    rules = compile_event_source(
        parse_event_source_spec(source(aggregatedSelection=aggregated)), name="copies"
    )
    assert rules.evaluate([config_map("a", "90"), config_map("b", "99")]).matching == (0, 1)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "function evaluate()\n  return 1\nend",
            "lua bad/resourceSelectors[0]: evaluate() must return a table, not a number (1)",
        ),
        (
            "function evaluate()\n  return {matching = 'yes'}\nend",
            "lua bad/resourceSelectors[0]: 'matching' must be a boolean, not a string ('yes')",
        ),
        (
            "function evaluate()\n  return {matching = true, message = {}}\nend",
            "lua bad/resourceSelectors[0]: 'message' must be a string, not a table",
        ),
        (
            "function evaluate()\n  return obj.data.x.y\nend",
            "lua bad/resourceSelectors[0]:2: attempt to index field 'x' (a nil value)",
        ),
    ],
)
def test_a_bad_result_or_a_runtime_error_names_the_selector(script: str, message: str) -> None:
    spec = {"resourceSelectors": [{"kind": "ConfigMap", "evaluate": script}]}
    rules = compile_event_source(parse_event_source_spec(spec), name="bad")
    with pytest.raises(LuaError) as caught:
        rules.match_object(config_map("a", "1"))
    assert str(caught.value) == message


def test_a_script_that_does_not_load_fails_at_compile_time_with_its_line() -> None:
    spec = {"resourceSelectors": [{"kind": "Pod"}, {"kind": "ConfigMap", "evaluate": "x = = 1"}]}
    with pytest.raises(LuaError) as caught:
        compile_event_source(parse_event_source_spec(spec), name="broken")
    assert str(caught.value).startswith("lua broken/resourceSelectors[1]:1: syntax error")


def test_an_aggregated_result_must_name_objects_passed_in() -> None:
    aggregated = "function evaluate()\n  return {resources = {{kind = 'Pod'}}}\nend"
    rules = compile_event_source(
        parse_event_source_spec(source(aggregatedSelection=aggregated)), name="stranger"
    )
    with pytest.raises(LuaError) as caught:
        rules.evaluate([config_map("a", "90")])
    assert str(caught.value) == (
        "lua stranger/aggregatedSelection: resources[1] must be one of the objects passed in"
    )


def make_case(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


EVENTSOURCE = """
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventSource
metadata: {name: hot}
spec:
  resourceSelectors:
  - kind: ConfigMap
    version: v1
    evaluate: |
      function evaluate()
        return {matching = tonumber(obj.data.utilization) > 80, message = "said so"}
      end
"""
HOT_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {utilization: '95'}\n"
COLD_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {utilization: '5'}\n"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"


def test_an_event_case_reports_each_wrong_document(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "wrong",
        {
            "eventsource.yaml": EVENTSOURCE,
            "matching.yaml": HOT_CM + "---\n" + COLD_CM + "---\n" + POD,
            "non-matching.yaml": COLD_CM + "---\n" + HOT_CM + "---\n" + POD,
        },
    )
    matching, non_matching = run_event_case(case)
    assert matching.problems == (
        "document 2: expected matching, got not matching (said so)",
        "document 3: no selector selects it",
    )
    assert non_matching.problems == ("document 2: expected not matching, got matching (said so)",)


def test_an_aggregated_event_case_judges_both_files_together(tmp_path: Path) -> None:
    aggregated = EVENTSOURCE + (
        "  aggregatedSelection: |\n"
        "    function evaluate()\n"
        "      if #resources > 1 then return {resources = resources} end\n"
        "      return {}\n"
        "    end\n"
    )
    hot2 = HOT_CM.replace("name: a", "name: c")
    good = make_case(
        tmp_path / "good",
        {
            "eventsource.yaml": aggregated,
            "matching.yaml": HOT_CM + "---\n" + hot2,
            "non-matching.yaml": COLD_CM,
        },
    )
    assert [r.passed for r in run_event_case(good)] == [True, True]
    lonely = make_case(
        tmp_path / "lonely",
        {"eventsource.yaml": aggregated, "matching.yaml": HOT_CM, "non-matching.yaml": COLD_CM},
    )
    matching, non_matching = run_event_case(lonely)
    assert matching.problems == ("document 1: expected matching, got not an event",)
    assert non_matching.passed


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("kind: HealthCheck\nspec: {}\n", "kind: expected EventSource, not 'HealthCheck'"),
        ("kind: EventSource\nspec: {}\n", "spec.resourceSelectors: required field is missing"),
        (
            "kind: EventSource\nspec:\n  resourceSelectors:\n  - {kind: Pod, evaluateCEL: []}\n",
            "spec.resourceSelectors[0].evaluateCEL: unknown field",
        ),
    ],
)
def test_a_bad_eventsource_document_is_reported(
    tmp_path: Path, document: str, problem: str
) -> None:
    case = make_case(tmp_path / "doc", {"eventsource.yaml": document, "matching.yaml": POD})
    [result] = run_event_case(case)
    assert result.file == "eventsource.yaml"
    assert result.problems[0].startswith(problem)


def test_an_event_case_needs_resource_files(tmp_path: Path) -> None:
    [result] = run_event_case(make_case(tmp_path / "bare", {"eventsource.yaml": EVENTSOURCE}))
    assert result.problems == ("no resource files (matching.yaml or non-matching.yaml)",)


def test_the_cli_runs_health_and_event_cases() -> None:
    outcome = CliRunner().invoke(lua, ["test", str(EXAMPLES)])
    assert outcome.exit_code == 0, outcome.output
    assert "events/gpu-utilization-high/matching.yaml" in outcome.output
    assert "health/gpu-nodes/healthy.yaml" in outcome.output


def test_a_directory_without_cases_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "nothing-here").mkdir()
    (tmp_path / "nothing-here" / "matching.yaml").write_text(POD)
    outcome = CliRunner().invoke(lua, ["test", str(tmp_path / "nothing-here")])
    assert outcome.exit_code == 1
    assert "passed" not in outcome.output
    assert f"error: no Lua test cases under {tmp_path / 'nothing-here'}" in outcome.output
