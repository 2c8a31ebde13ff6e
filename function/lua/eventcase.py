"""Test EventSource Lua offline, in Sveltos' event test-case convention.

An event case is a directory holding ``eventsource.yaml`` (a Sveltos or aifleet
``EventSource``) beside ``matching.yaml`` and/or ``non-matching.yaml``, multi-document YAML
files named after the expected outcome. Without ``aggregatedSelection``, every document is
judged by the selectors that select it and must match exactly when its file is
``matching.yaml`` (a document of ``matching.yaml`` that no selector selects fails). With
``aggregatedSelection``, the documents of both files are judged together, and the events must
be every document of ``matching.yaml`` and none of ``non-matching.yaml``. Results are
`function.lua.casetest.FileResult` entries, like health cases; `run_all_cases` runs both kinds
for ``aifleet lua test`` (`function.lua.cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from function.errors import LuaError, RenderError, SourceLocation, SpecError
from function.lua.casetest import FileResult, load_objects, run_cases, single_document
from function.lua.events import EventRules, compile_event_source
from function.lua.runtime import Sandbox
from function.model.events import EVENT_SOURCE_KIND, parse_event_source_spec

SOURCE_FILE = "eventsource.yaml"
EVENT_FILES = {"matching.yaml": True, "non-matching.yaml": False}
"""Resource file name → whether its documents must be events."""


def find_event_cases(root: Path) -> list[Path]:
    """Every event case directory at or under ``root``, sorted."""
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    return [d for d in candidates if (d / SOURCE_FILE).is_file()]


def run_event_cases(root: Path, *, sandbox: Sandbox | None = None) -> list[FileResult]:
    """Run every event case under ``root``: one result per checked file."""
    return [r for case in find_event_cases(root) for r in run_event_case(case, sandbox=sandbox)]


def run_all_cases(root: Path, *, sandbox: Sandbox | None = None) -> list[FileResult]:
    """Health cases and event cases under ``root``, in that order."""
    return run_cases(root, sandbox=sandbox) + run_event_cases(root, sandbox=sandbox)


def run_event_case(case: Path, *, sandbox: Sandbox | None = None) -> list[FileResult]:
    """Judge the documents of ``matching.yaml`` and ``non-matching.yaml`` with the source."""
    sandbox = sandbox or Sandbox()
    try:
        rules = _load_source(case, sandbox)
    except (LuaError, SpecError, RenderError) as err:
        return [FileResult(case, SOURCE_FILE, problems=(str(err),))]
    files = [name for name in EVENT_FILES if (case / name).is_file()]
    if not files:
        expected = " or ".join(EVENT_FILES)
        return [FileResult(case, SOURCE_FILE, problems=(f"no resource files ({expected})",))]
    try:
        documents = {name: load_objects(case, name) for name in files}
    except RenderError as err:
        return [FileResult(case, SOURCE_FILE, problems=(str(err),))]
    if rules.aggregated:
        return _aggregated(case, rules, documents)
    return [_each(case, name, rules, documents[name]) for name in files]


def _load_source(case: Path, sandbox: Sandbox) -> EventRules:
    text = (case / SOURCE_FILE).read_text(encoding="utf-8")
    document = single_document(text, SourceLocation(case.name, SOURCE_FILE), EVENT_SOURCE_KIND)
    if document.get("kind") != EVENT_SOURCE_KIND:
        raise SpecError.at("kind", f"expected EventSource, not {document.get('kind')!r}")
    spec = parse_event_source_spec(document.get("spec"))
    return compile_event_source(spec, name=f"{case.name}/{SOURCE_FILE}", sandbox=sandbox)


def _each(case: Path, name: str, rules: EventRules, objects: list[dict[str, Any]]) -> FileResult:
    expected = EVENT_FILES[name]
    problems: list[str] = []
    printed: list[str] = []
    for n, obj in enumerate(objects, start=1):
        try:
            verdict = rules.match_object(obj)
        except LuaError as err:
            problems.append(f"document {n}: {err}")
            continue
        printed.extend(verdict.printed)
        if expected and not verdict.selected:
            problems.append(f"document {n}: no selector selects it")
        elif verdict.matching != expected:
            got = "matching" if verdict.matching else "not matching"
            detail = f" ({verdict.message})" if verdict.message else ""
            problems.append(f"document {n}: expected {_word(expected)}, got {got}{detail}")
    return FileResult(case, name, len(objects), tuple(problems), tuple(printed))


def _aggregated(
    case: Path, rules: EventRules, documents: dict[str, list[dict[str, Any]]]
) -> list[FileResult]:
    everything = [(name, n, obj) for name, objs in documents.items() for n, obj in enumerate(objs)]
    try:
        outcome = rules.evaluate([obj for _, _, obj in everything])
    except LuaError as err:
        return [FileResult(case, name, len(objs), (str(err),)) for name, objs in documents.items()]
    events = set(outcome.matching)
    results = []
    for name, objects in documents.items():
        problems = []
        for i, (file, n, _) in enumerate(everything):
            if file == name and (i in events) != EVENT_FILES[name]:
                got = "an event" if i in events else "not an event"
                problems.append(f"document {n + 1}: expected {_word(EVENT_FILES[name])}, got {got}")
        results.append(FileResult(case, name, len(objects), tuple(problems), outcome.printed))
    return results


def _word(matching: bool) -> str:
    return "matching" if matching else "not matching"
