"""``aifleet lua``: commands for Lua rule authors, starting with ``aifleet lua test``.

``aifleet lua test DIR...`` runs every health case (`function.lua.casetest`) and event case
(`function.lua.eventcase`) under each directory and prints one line per checked file, the
problems of failed ones, and a summary; it exits 1 when any file failed or a directory holds
no case. The `lua` group is registered in `function.main`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from function.lua.casetest import FileResult
from function.lua.eventcase import run_all_cases
from function.lua.runtime import MIB, Limits, Sandbox


@click.group()
def lua() -> None:
    """Write and test Lua rules (Sveltos' Lua conventions)."""


@lua.command("test")
@click.argument(
    "directories",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--verbose", "-v", is_flag=True, help="Show what the rules printed.")
@click.option(
    "--max-memory",
    default=Limits().max_memory // MIB,
    show_default=True,
    help="Memory limit of one evaluation, in MiB.",
)
@click.option(
    "--max-instructions",
    default=Limits().max_instructions,
    show_default=True,
    help="Lua instructions one evaluation may run.",
)
def test(
    directories: tuple[Path, ...], verbose: bool, max_memory: int, max_instructions: int
) -> None:
    """Run the Lua cases under DIRECTORIES: health rules (healthcheck.yaml, health.lua or
    lua_policy.lua beside healthy.yaml, progressing.yaml, degraded.yaml, suspended.yaml,
    valid_resource.yaml, invalid_resource.yaml) and event sources (eventsource.yaml beside
    matching.yaml, non-matching.yaml). A directory without cases is an error."""
    sandbox = Sandbox(Limits(max_memory=max_memory * MIB, max_instructions=max_instructions))
    results: list[FileResult] = []
    empty: list[Path] = []
    for directory in directories:
        found = run_all_cases(directory, sandbox=sandbox)
        results.extend(found)
        if not found:
            empty.append(directory)
    for result in results:
        _report(result, verbose=verbose)
    failed = sum(not r.passed for r in results)
    cases = len({r.case for r in results})
    if results:
        click.echo(
            f"{cases} cases, {len(results)} files: {len(results) - failed} passed, {failed} failed"
        )
    for directory in empty:
        click.echo(
            f"error: no Lua test cases under {directory} (a case is a directory with "
            "healthcheck.yaml, health.lua, lua_policy.lua or eventsource.yaml)",
            err=True,
        )
    if failed or empty:
        sys.exit(1)


def _report(result: FileResult, *, verbose: bool) -> None:
    mark = "ok  " if result.passed else "FAIL"
    objects = f"{result.objects} object{'' if result.objects == 1 else 's'}"
    click.echo(f"{mark} {result.case}/{result.file} ({objects})")
    for problem in result.problems:
        click.echo(f"       {problem}")
    if verbose or not result.passed:
        for line in result.printed:
            click.echo(f"       print: {line}")
