"""The ``aifleet`` command: one click group, a thin place to register subcommands.

``aifleet serve`` runs the composition function's gRPC server (`function.fn.server`) with the
SDK's standard flags, the ones Crossplane expects; ``aifleet render`` runs it offline on
files. Other subcommands register themselves here with ``cli.add_command(...)``. Commands
only turn flags into arguments and call into the modules that do the work.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from crossplane.function import cli as sdkcli

from function.errors import SpecError
from function.fn import server
from function.fn.render import FATAL_EXIT_CODE, render_files
from function.fn.runner import FunctionRunner
from function.lua.cli import lua
from function.placement.cli import place_files
from function.reconciler.cli import reconcile


@click.group()
@click.version_option(package_name="function-aifleet", prog_name="aifleet")
def cli() -> None:
    """GPU clusters and their AI add-ons from one small Crossplane resource."""


@cli.command()
@sdkcli.standard_options
def serve(**options: Any) -> None:
    """Serve the composition function over gRPC (Crossplane's function protocol)."""
    server.run(FunctionRunner(), **options)


@cli.command()
@click.argument("xr", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--observed",
    "-o",
    "observed",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="YAML file or directory of observed composed resources (repeatable).",
)
@click.option(
    "--input",
    "-i",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The step's Input, or a Composition whose aifleet step holds it.",
)
@click.option(
    "--include-function-results",
    "-r",
    is_flag=True,
    help="Print the function's results as documents of kind Result.",
)
def render(
    xr: Path, observed: tuple[Path, ...], input_path: Path | None, include_function_results: bool
) -> None:
    """Compose XR offline and print the result in the format of `crossplane render`."""
    try:
        rendered = render_files(xr, observed, input_path, include_results=include_function_results)
    except SpecError as err:
        raise click.ClickException(str(err)) from None
    if rendered.fatal is not None:
        click.echo(f"aifleet: error: {rendered.fatal}", err=True)
        sys.exit(FATAL_EXIT_CODE)
    click.echo(rendered.text, nl=False)


@cli.command("place")
@click.argument(
    "deployments",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--fleet",
    "-f",
    "fleet",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fleet file: clusters with labels and GPU capacity.",
)
def place_command(deployments: tuple[Path, ...], fleet: Path) -> None:
    """Print where AIModelDeployments would be placed on a fleet, and why; exit 2 when a
    deployment does not fit completely."""
    try:
        text, complete = place_files(list(deployments), fleet)
    except SpecError as err:
        raise click.ClickException(str(err)) from None
    click.echo(text, nl=False)
    if not complete:
        sys.exit(2)


cli.add_command(reconcile)
cli.add_command(lua)

if __name__ == "__main__":
    cli()
