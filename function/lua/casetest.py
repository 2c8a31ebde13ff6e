"""Test Lua health rules offline, in Sveltos' test-case convention.

A case is a directory holding one rule and the objects it should judge:

- the rule: ``healthcheck.yaml`` (a Sveltos ``HealthCheck``: ``spec.evaluateHealth`` with
  ``spec.resourceSelectors``, or the ``v1alpha1`` ``spec.script`` with ``group``/``version``/
  ``kind``), a plain ``health.lua``, or addon-controller's ``lua_policy.lua``;
- the objects, in multi-document YAML files named after the expected outcome:
  ``healthy.yaml``, ``progressing.yaml``, ``degraded.yaml``, ``suspended.yaml`` (and
  addon-controller's ``valid_resource.yaml`` / ``invalid_resource.yaml``).

All documents of one file are judged together (those the selectors choose). Every verdict
must carry the file's status; a file other than ``healthy.yaml``/``valid_resource.yaml``
must draw at least one verdict, so a rule with no opinion cannot pass it. `run_cases` finds
every case under a directory; `function.lua.eventcase` does the same for EventSource cases;
``aifleet lua test`` (`function.lua.cli`) prints the results of both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from function.errors import LuaError, RenderError, SourceLocation, SpecError
from function.lua.health import LuaHealthRule, compile_health_rule
from function.lua.runtime import Sandbox
from function.lua.selectors import LabelFilter, ResourceSelector
from function.model.common import Spec, parse
from function.model.health import HealthStatus, Verdict
from function.model.objects import load_yaml_documents

RULE_FILES = ("healthcheck.yaml", "health.lua", "lua_policy.lua")

EXPECTATIONS: dict[str, HealthStatus | None] = {
    "healthy.yaml": HealthStatus.HEALTHY,
    "progressing.yaml": HealthStatus.PROGRESSING,
    "degraded.yaml": HealthStatus.DEGRADED,
    "suspended.yaml": HealthStatus.SUSPENDED,
    "valid_resource.yaml": HealthStatus.HEALTHY,
    "invalid_resource.yaml": None,  # anything but Healthy
}
"""Resource file name → the status every verdict must have (None: any unhealthy one)."""


class HealthCheckSpec(Spec):
    """The parts of a Sveltos ``HealthCheck`` spec that matter offline."""

    resource_selectors: tuple[ResourceSelector, ...] = Field(
        default=(), description="The objects the script judges (v1beta1)."
    )
    evaluate_health: str | None = Field(default=None, description="The Lua script (v1beta1).")
    collect_resources: bool = Field(default=False, description="No effect in tests.")
    evaluate_independently: bool = Field(default=True, description="No effect in tests.")
    group: str | None = Field(default=None, description="Selected group (v1alpha1).")
    version: str | None = Field(default=None, description="Selected version (v1alpha1).")
    kind: str | None = Field(default=None, description="Selected kind (v1alpha1).")
    namespace: str = Field(default="", description="Selected namespace (v1alpha1).")
    label_filters: tuple[LabelFilter, ...] = Field(
        default=(), description="Label conditions (v1alpha1)."
    )
    script: str | None = Field(default=None, description="The Lua script (v1alpha1).")

    def rule_source(self) -> tuple[str, tuple[ResourceSelector, ...]]:
        """The script and its selectors, whichever API version the document uses."""
        if self.evaluate_health is not None:
            return self.evaluate_health, self.resource_selectors
        if self.script is None:
            raise SpecError.at("spec.evaluateHealth", "required field is missing")
        if self.kind is None:
            return self.script, ()
        selector = ResourceSelector(
            group=self.group or "",
            version=self.version or "",
            kind=self.kind,
            namespace=self.namespace,
            label_filters=self.label_filters,
        )
        return self.script, (selector,)


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one file of one case: passed when it has no problems."""

    case: Path
    file: str
    objects: int = 0
    problems: tuple[str, ...] = ()
    printed: tuple[str, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        """Whether the rule judged the file's objects as its name says."""
        return not self.problems


def find_cases(root: Path) -> list[Path]:
    """Every case directory at or under ``root``, sorted."""
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    return [d for d in candidates if any((d / name).is_file() for name in RULE_FILES)]


def run_cases(root: Path, *, sandbox: Sandbox | None = None) -> list[FileResult]:
    """Run every case under ``root``; a results list with one entry per checked file."""
    return [r for case in find_cases(root) for r in run_case(case, sandbox=sandbox)]


def run_case(case: Path, *, sandbox: Sandbox | None = None) -> list[FileResult]:
    """Judge each expectation file of one case with its rule."""
    sandbox = sandbox or Sandbox()
    try:
        rule_file, rule = _load_rule(case, sandbox)
    except (LuaError, SpecError, RenderError) as err:
        present = [name for name in RULE_FILES if (case / name).is_file()]
        return [FileResult(case, " + ".join(present), problems=(str(err),))]
    files = [name for name in EXPECTATIONS if (case / name).is_file()]
    if not files:
        expected = ", ".join(EXPECTATIONS)
        return [FileResult(case, rule_file, problems=(f"no resource files ({expected})",))]
    return [_check_file(case, name, rule) for name in files]


def _load_rule(case: Path, sandbox: Sandbox) -> tuple[str, LuaHealthRule]:
    rule_file = _rule_file(case)
    text = (case / rule_file).read_text(encoding="utf-8")
    name = f"{case.name}/{rule_file}"
    if rule_file.endswith(".lua"):
        return rule_file, compile_health_rule(text, name=name, sandbox=sandbox)
    document = single_document(text, SourceLocation(case.name, rule_file))
    if document.get("kind") != "HealthCheck":
        raise SpecError.at("kind", f"expected HealthCheck, not {document.get('kind')!r}")
    source, selectors = parse(HealthCheckSpec, document.get("spec")).rule_source()
    rule = compile_health_rule(source, name=name, selectors=selectors, sandbox=sandbox)
    return rule_file, rule


def _check_file(case: Path, name: str, rule: LuaHealthRule) -> FileResult:
    try:
        objects = load_objects(case, name)
        judgement = rule.judge(objects)
    except (LuaError, RenderError) as err:
        return FileResult(case, name, problems=(str(err),))
    problems = list(_problems(EXPECTATIONS[name], judgement.verdicts))
    if not judgement.verdicts and EXPECTATIONS[name] is not HealthStatus.HEALTHY:
        problems.append("the rule gave no verdict for any object")
    return FileResult(case, name, len(objects), tuple(problems), judgement.printed)


def _problems(expected: HealthStatus | None, verdicts: dict[int, Verdict]) -> Iterator[str]:
    for index, verdict in sorted(verdicts.items()):
        if expected is None and verdict.healthy:
            yield f"document {index + 1}: expected not Healthy, got Healthy"
        elif expected is not None and verdict.status is not expected:
            detail = f" ({verdict.message})" if verdict.message else ""
            yield f"document {index + 1}: expected {expected}, got {verdict.status}{detail}"


def load_objects(case: Path, name: str) -> list[dict[str, Any]]:
    """The documents of one resource file of a case; `RenderError` names file and line."""
    text = (case / name).read_text(encoding="utf-8")
    location = SourceLocation(case.name, name)
    objects: list[dict[str, Any]] = []
    for line, value in load_yaml_documents(text, location):
        if not isinstance(value, dict):
            raise RenderError(SourceLocation(case.name, name, line), "a document must be an object")
        objects.append(value)
    return objects


def single_document(
    text: str, location: SourceLocation, kind: str = "HealthCheck"
) -> dict[str, Any]:
    """The one object a rule file holds."""
    documents = [value for _, value in load_yaml_documents(text, location)]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise RenderError(location, f"expected exactly one {kind} document")
    document: dict[str, Any] = documents[0]
    return document


def _rule_file(case: Path) -> str:
    found = [name for name in RULE_FILES if (case / name).is_file()]
    if len(found) > 1:
        raise SpecError.at(case.name, f"one rule file per case, found {', '.join(found)}")
    return found[0]
