"""``aifleet reconcile``: run the companion reconciler, from flags to `Settings`.

In the function's pod the sidecar runs with in-cluster credentials and leader election;
on a workstation ``--kubeconfig`` points it at any management cluster (the emulator's
included).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import click
import yaml

from function.kube.adapter import (
    Configuration,
    configuration_from_kubeconfig,
    in_cluster_configuration,
)
from function.kube.aio import DEFAULT_BURST, DEFAULT_QPS, AioAdapter
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.leader import LeadershipLostError, LeaseSettings


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the management cluster (default: the pod's service account).",
)
@click.option("--context", "kube_context", help="Kubeconfig context to use.")
@click.option("--workers", default=16, show_default=True, help="Concurrent reconciles.")
@click.option(
    "--resync-period", default=300.0, show_default=True, help="Seconds between full resyncs."
)
@click.option(
    "--chart-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/aifleet/charts"),
    show_default=True,
    help="Directory of the chart cache.",
)
@click.option(
    "--charts-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd,
    help="Base of relative file:// chart repositories (default: the working directory).",
)
@click.option(
    "--probe-address",
    default=":8081",
    show_default=True,
    help="Address of /livez, /readyz, /healthz and /metrics ('' to disable).",
)
@click.option(
    "--stall-timeout",
    default=300.0,
    show_default=True,
    help="Seconds every worker may hold its key while others wait before /livez fails.",
)
@click.option("--leader-elect/--no-leader-elect", default=False, show_default=True)
@click.option(
    "--lease-namespace",
    envvar="POD_NAMESPACE",
    default="crossplane-system",
    show_default=True,
    help="Namespace of the leader-election Lease.",
)
@click.option("--lease-name", default="aifleet-reconciler", show_default=True)
@click.option(
    "--identity",
    envvar="POD_NAME",
    default=socket.gethostname,
    help="This replica's name in the Lease (default: the pod name or host name).",
)
@click.option(
    "--kube-api-qps",
    default=DEFAULT_QPS,
    show_default=True,
    help="Requests per second to each workload cluster after a burst (0: unlimited).",
)
@click.option(
    "--kube-api-burst",
    default=DEFAULT_BURST,
    show_default=True,
    help="Requests to one workload cluster at once before --kube-api-qps applies.",
)
@click.option("--debug", "-d", is_flag=True, help="Emit debug logs.")
def reconcile(
    kubeconfig: Path | None,
    kube_context: str | None,
    workers: int,
    resync_period: float,
    chart_cache: Path,
    charts_root: Path,
    probe_address: str,
    stall_timeout: float,
    leader_elect: bool,
    lease_namespace: str,
    lease_name: str,
    identity: str,
    kube_api_qps: float,
    kube_api_burst: int,
    debug: bool,
) -> None:
    """Apply AddonBundles to their clusters once they are ready, and keep them applied."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings(
        workers=workers,
        resync_period=resync_period,
        chart_cache=chart_cache,
        charts_root=charts_root,
        probe_address=_address(probe_address),
        stall_timeout=stall_timeout,
        lease=LeaseSettings(lease_namespace, identity, name=lease_name) if leader_elect else None,
        kube_qps=kube_api_qps,
        kube_burst=kube_api_burst,
    )
    if kubeconfig is not None:
        config = configuration_from_kubeconfig(
            yaml.safe_load(kubeconfig.read_text()), context=kube_context
        )
    else:
        config = in_cluster_configuration()
    try:
        asyncio.run(_run(settings, config))
    except LeadershipLostError as exc:
        raise click.ClickException(f"{exc}; exiting so a standby takes over") from None
    except KeyboardInterrupt:
        pass


async def _run(settings: Settings, config: Configuration) -> None:
    mgmt = AioAdapter(config)
    try:
        await ReconcilerApp(settings, mgmt).run()
    finally:
        await mgmt.close()


def _address(value: str) -> str | None:
    if not value:
        return None
    return f"0.0.0.0{value}" if value.startswith(":") else value
