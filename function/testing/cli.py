"""`python -m function.testing`: serve a fleet of emulated clusters from the command line.

The click command `emulator` starts a `fleet.Fleet`, adds the requested clusters, optionally
installs the Cluster API CRDs into management clusters, writes one kubeconfig per cluster and
serves until interrupted (or for ``--duration`` seconds). The main `aifleet` CLI can mount the
same command as ``aifleet emulator``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from function.testing.crds import install_capi_crds, install_gpu_operator_crds
from function.testing.fleet import Fleet


@click.command("emulator")
@click.option("--cluster", "names", multiple=True, help="Name of a cluster (repeatable).")
@click.option("--clusters", "count", type=int, default=0, help="Add N clusters cluster-1..N.")
@click.option(
    "--management",
    multiple=True,
    help="Name of a management cluster: added if needed, Cluster API CRDs installed.",
)
@click.option("--gpu-operator-crds", is_flag=True, help="Install ClusterPolicy in every cluster.")
@click.option(
    "--kubeconfig-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write <cluster>.kubeconfig files here.",
)
@click.option("--simulation/--no-simulation", default=True, help="Controller simulation rules.")
@click.option("--delay", type=float, default=0.01, show_default=True, help="Simulation delay (s).")
@click.option("--watch-history", type=int, default=1000, show_default=True)
@click.option("--bookmark-interval", type=float, default=60.0, show_default=True)
@click.option(
    "--duration", type=float, help="Stop after this many seconds (default: run until ^C)."
)
def emulator(
    names: tuple[str, ...],
    count: int,
    management: tuple[str, ...],
    gpu_operator_crds: bool,
    kubeconfig_dir: Path | None,
    simulation: bool,
    delay: float,
    watch_history: int,
    bookmark_interval: float,
    duration: float | None,
) -> None:
    """Serve emulated Kubernetes API servers on 127.0.0.1, one port per cluster."""
    wanted = [*names, *(f"cluster-{i}" for i in range(1, count + 1))]
    wanted += [m for m in management if m not in wanted]
    if not wanted:
        wanted = ["cluster-1"]
    fleet = Fleet(
        simulation=simulation,
        simulation_delay=delay,
        watch_history=watch_history,
        bookmark_interval=bookmark_interval,
    )
    with fleet:
        for name in wanted:
            cluster = fleet.add_cluster(name)
            if name in management:
                install_capi_crds(cluster)
            if gpu_operator_crds:
                install_gpu_operator_crds(cluster)
            line = f"{name}\t{cluster.url}"
            if kubeconfig_dir is not None:
                kubeconfig_dir.mkdir(parents=True, exist_ok=True)
                path = cluster.write_kubeconfig(kubeconfig_dir / f"{name}.kubeconfig")
                line += f"\t{path}"
            click.echo(line)
        click.echo(f"serving {len(wanted)} cluster(s); press Ctrl-C to stop", err=True)
        _serve(duration)


def _serve(duration: float | None) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1 if deadline is None else min(0.1, max(deadline - time.monotonic(), 0)))
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
