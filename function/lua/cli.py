"""``aifleet lua``: commands for Lua rule authors, starting with ``aifleet lua test``.

``aifleet lua test DIR...`` runs every case (`function.lua.casetest`) under each directory and
prints one line per checked file, the problems of failed ones, and a summary; it exits 1 when
any file failed. The `lua` group is registered in `function.main`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from function.lua.casetest import FileResult, run_cases
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
    """Run the health-rule cases under DIRECTORIES (healthcheck.yaml or health.lua beside
    healthy.yaml, progressing.yaml, degraded.yaml, suspended.yaml)."""
    sandbox = Sandbox(Limits(max_memory=max_memory * MIB, max_instructions=max_instructions))
    results = [r for d in directories for r in run_cases(d, sandbox=sandbox)]
    for result in results:
        _report(result, verbose=verbose)
    failed = sum(not r.passed for r in results)
    cases = len({r.case for r in results})
    click.echo(
        f"{cases} cases, {len(results)} files: {len(results) - failed} passed, {failed} failed"
    )
    if failed or not results:
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
