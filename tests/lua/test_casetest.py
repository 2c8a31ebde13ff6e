"""The Lua case runner and ``aifleet lua test``: the shipped corpus passes, and every way a
case can be wrong is reported with the file and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from function.lua.casetest import find_cases, run_case, run_cases
from function.lua.cli import lua

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "lua"

RULE = """
function evaluate()
  local statuses = {}
  for _, r in ipairs(resources) do
    print("judging " .. r.metadata.name)
    if r.kind == "ConfigMap" then
      local status = r.data and r.data.status or "Progressing"
      table.insert(statuses, {resource = r, status = status, message = "said so"})
    end
  end
  local hs = {}
  if #statuses > 0 then hs.resources = statuses end
  return hs
end
"""


def config_map(name: str, status: str | None) -> str:
    data = f"\ndata:\n  status: {status}" if status else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{data}\n"


def make_case(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_every_shipped_case_passes() -> None:
    results = run_cases(EXAMPLES)
    failures = [f"{r.case.name}/{r.file}: {r.problems}" for r in results if not r.passed]
    assert failures == []
    assert len(find_cases(EXAMPLES)) >= 15
    statuses = {r.file for r in results}
    assert {"healthy.yaml", "progressing.yaml", "degraded.yaml", "suspended.yaml"} <= statuses


def test_a_verdict_other_than_the_file_name_fails(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "wrong",
        {"health.lua": RULE, "degraded.yaml": config_map("a", "Healthy")},
    )
    [result] = run_case(case)
    assert not result.passed
    assert result.problems == ("document 1: expected Degraded, got Healthy",)
    assert result.printed == ("judging a",)


def test_a_rule_without_an_opinion_cannot_pass_a_non_healthy_file(tmp_path: Path) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
    case = make_case(
        tmp_path / "silent",
        {"health.lua": RULE, "healthy.yaml": secret, "progressing.yaml": secret},
    )
    healthy, progressing = run_case(case)
    assert healthy.passed
    assert progressing.problems == ("the rule gave no verdict for any object",)


def test_every_status_file_is_checked(tmp_path: Path) -> None:
    files = {"health.lua": RULE}
    for status in ("Healthy", "Progressing", "Degraded", "Suspended"):
        files[f"{status.lower()}.yaml"] = (
            config_map("a", status) + "---\n" + config_map("b", status)
        )
    results = run_case(make_case(tmp_path / "all", files))
    assert [(r.file, r.objects, r.passed) for r in results] == [
        ("healthy.yaml", 2, True),
        ("progressing.yaml", 2, True),
        ("degraded.yaml", 2, True),
        ("suspended.yaml", 2, True),
    ]


def test_invalid_resource_accepts_any_unhealthy_verdict(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "addon-controller",
        {
            "lua_policy.lua": RULE,
            "valid_resource.yaml": config_map("a", "Healthy"),
            "invalid_resource.yaml": config_map("b", "Degraded") + "---\n" + config_map("c", None),
        },
    )
    assert [r.passed for r in run_case(case)] == [True, True]


def test_a_lua_error_is_reported_with_its_line(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "broken",
        {
            "health.lua": "function evaluate()\n  return {\nend\n",
            "healthy.yaml": config_map("a", None),
        },
    )
    [result] = run_case(case)
    assert result.file == "health.lua"
    assert result.problems == (
        "lua broken/health.lua:3: syntax error: unexpected symbol near 'end'",
    )


def test_a_runtime_error_fails_the_file_that_provoked_it(tmp_path: Path) -> None:
    rule = (
        "function evaluate()\n"
        "  return {resources = {{resource = resources[1], status = obj.x.y}}}\n"
        "end"
    )
    case = make_case(
        tmp_path / "crash", {"health.lua": rule, "healthy.yaml": config_map("a", None)}
    )
    [result] = run_case(case)
    assert result.file == "healthy.yaml"
    assert result.problems == ("lua crash/health.lua:2: attempt to index field 'x' (a nil value)",)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("kind: EventSource\nspec: {}\n", "kind: expected HealthCheck, not 'EventSource'"),
        ("kind: HealthCheck\nspec: {}\n", "spec.evaluateHealth: required field is missing"),
        (
            "kind: HealthCheck\nspec:\n  evaluateHealth: x\n"
            "  resourceSelectors:\n  - kind: Pod\n    evaluateCEL: []\n",
            "spec.resourceSelectors[0].evaluateCEL: unknown field",
        ),
        (
            "kind: HealthCheck\nspec:\n  script: x\n  kind: Pod\n"
            "  labelFilters:\n  - {key: a, operation: Like}\n",
            "spec.labelFilters[0].operation: unsupported value 'Like'; "
            "allowed: Equal, Different, Has, DoesNotHave",
        ),
    ],
)
def test_a_bad_healthcheck_document_is_reported(
    tmp_path: Path, document: str, problem: str
) -> None:
    case = make_case(
        tmp_path / "doc", {"healthcheck.yaml": document, "healthy.yaml": config_map("a", None)}
    )
    [result] = run_case(case)
    assert (result.file, result.problems) == ("healthcheck.yaml", (problem,))


def test_bad_yaml_in_a_resource_file_names_the_line(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "yaml",
        {"health.lua": RULE, "degraded.yaml": "kind: ConfigMap\nmetadata:\n  name: [unclosed\n"},
    )
    [result] = run_case(case)
    assert result.problems[0].startswith("add-on 'yaml', degraded.yaml:4: invalid YAML")


def test_a_case_needs_resource_files_and_one_rule(tmp_path: Path) -> None:
    [lonely] = run_case(make_case(tmp_path / "lonely", {"health.lua": RULE}))
    assert lonely.problems[0].startswith("no resource files (healthy.yaml, progressing.yaml")
    both = make_case(
        tmp_path / "both",
        {"health.lua": RULE, "lua_policy.lua": RULE, "healthy.yaml": config_map("a", None)},
    )
    [result] = run_case(both)
    assert result.problems == ("both: one rule file per case, found health.lua, lua_policy.lua",)


def test_the_cli_runs_the_corpus() -> None:
    outcome = CliRunner().invoke(lua, ["test", str(EXAMPLES)])
    assert outcome.exit_code == 0, outcome.output
    last = outcome.output.splitlines()[-1]
    assert last.endswith("0 failed")
    assert "FAIL" not in outcome.output


def test_the_cli_reports_failures_and_exits_1(tmp_path: Path) -> None:
    make_case(
        tmp_path / "cases" / "wrong",
        {"health.lua": RULE, "degraded.yaml": config_map("a", "Healthy")},
    )
    outcome = CliRunner().invoke(lua, ["test", str(tmp_path / "cases")])
    assert outcome.exit_code == 1
    assert outcome.output.splitlines() == [
        f"FAIL {tmp_path / 'cases' / 'wrong'}/degraded.yaml (1 object)",
        "       document 1: expected Degraded, got Healthy",
        "       print: judging a",
        "1 cases, 1 files: 0 passed, 1 failed",
    ]


def test_the_cli_shows_printed_lines_when_verbose(tmp_path: Path) -> None:
    make_case(tmp_path / "ok", {"health.lua": RULE, "healthy.yaml": config_map("a", "Healthy")})
    quiet = CliRunner().invoke(lua, ["test", str(tmp_path)])
    verbose = CliRunner().invoke(lua, ["test", "-v", str(tmp_path)])
    assert "print: judging a" not in quiet.output
    assert "       print: judging a" in verbose.output.splitlines()


def test_the_cli_limits_apply(tmp_path: Path) -> None:
    spin = "function evaluate() while true do end end"
    make_case(tmp_path / "spin", {"health.lua": spin, "healthy.yaml": config_map("a", None)})
    outcome = CliRunner().invoke(lua, ["test", "--max-instructions", "10000", str(tmp_path)])
    assert outcome.exit_code == 1
    assert "ran more than the instruction limit (10,000)" in outcome.output


def test_the_cli_fails_when_no_case_is_found(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(lua, ["test", str(tmp_path)])
    assert outcome.exit_code == 1
    assert outcome.output.startswith(f"error: no Lua test cases under {tmp_path} ")
    assert "passed" not in outcome.output
