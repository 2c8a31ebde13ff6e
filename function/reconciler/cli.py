"""``aifleet reconcile``: run the companion reconciler, from flags to `Settings`.

In the function's pod the sidecar runs with in-cluster credentials and leader election;
on a workstation it reads ``$KUBECONFIG`` or ``~/.kube/config`` as kubectl does, or
``--kubeconfig`` points it at any management cluster (the emulator's included);
`function.kube.kubeconfig` finds them. Placement reads the Composition's Input from
``--placement-input`` (the sidecar does not see the pipeline's) and ``--gpu-costs`` overrides.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from pathlib import Path

import click
import yaml

from function.errors import SpecError
from function.kube.adapter import Configuration
from function.kube.aio import DEFAULT_BURST, DEFAULT_QPS, AioAdapter, user_agent
from function.kube.kubeconfig import KubeconfigError, locate
from function.model.input import FunctionInput, parse_input
from function.model.xr import GpuProduct
from function.reconciler import logs
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.collector import YOUNG_THRESHOLD
from function.reconciler.leader import LeadershipLostError, LeaseSettings
from function.reconciler.secretscope import SecretScope
from function.reconciler.shards import ShardSettings

log = logging.getLogger(__name__)


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Kubeconfig of the management cluster (default: the pod's service account, then "
    "$KUBECONFIG, a colon-separated list, then ~/.kube/config).",
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
@click.option(
    "--gc-young-threshold",
    type=click.IntRange(min=1),
    default=YOUNG_THRESHOLD,
    show_default=True,
    help="Allocations between two young garbage collections (700 is CPython's own: less idle"
    " memory, more CPU at start and restart).",
)
@click.option(
    "--shard-count",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Cut the fleet into N shards held through Leases, each replica its share (0: off).",
)
@click.option(
    "--lease-duration",
    type=click.FloatRange(min=1.0),
    default=15.0,
    show_default=True,
    help="Seconds a Lease (leader or shard) lasts unrenewed before another replica takes it.",
)
@click.option(
    "--shards",
    "shard_list",
    default="",
    help="Hold only these shards (comma-separated, e.g. 0,2) instead of a fair share.",
)
@click.option(
    "--secret-namespaces",
    "secret_namespaces",
    envvar="AIFLEET_SECRET_NAMESPACES",
    multiple=True,
    help="Read Secrets (kubeconfigs, chart credentials, manifestsFrom, webhooks) only in these "
    "namespaces, watching each on its own; repeat or comma-separate (env "
    "AIFLEET_SECRET_NAMESPACES, space- or comma-separated). Default: every namespace.",
)
@click.option(
    "--placement-input",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The Function Input (YAML, as in the Composition's step) placement takes its chart "
    "sources and gpuCostPerHour table from.",
)
@click.option(
    "--gpu-costs",
    default="",
    help="USD per GPU-hour for placement's cost preference, e.g. H100-80GB=6.5,L4=0.7; wins "
    "over the Input's gpuCostPerHour and the catalog's table, product by product.",
)
@click.option("--debug", "-d", is_flag=True, help="Emit debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    help="Readable lines, or one JSON object per line for a log pipeline.",
)
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
    gc_young_threshold: int,
    lease_duration: float,
    shard_count: int,
    shard_list: str,
    secret_namespaces: tuple[str, ...],
    placement_input: Path | None,
    gpu_costs: str,
    debug: bool,
    log_format: str,
) -> None:
    """Apply AddonBundles to their clusters once they are ready, and keep them applied."""
    logs.configure(log_format, debug=debug)
    settings = Settings(
        workers=workers,
        resync_period=resync_period,
        chart_cache=chart_cache,
        charts_root=charts_root,
        probe_address=_address(probe_address),
        stall_timeout=stall_timeout,
        lease=_lease(leader_elect, lease_namespace, identity, lease_name, lease_duration),
        kube_qps=kube_api_qps,
        kube_burst=kube_api_burst,
        shards=_shards(
            shard_count, shard_list, lease_namespace, identity, lease_name, lease_duration
        ),
        secret_scope=SecretScope.of(secret_namespaces or None),
        placement=placement_settings(placement_input, gpu_costs),
        freeze_heap=True,
        gc_young_threshold=gc_young_threshold,
    )
    try:
        credentials = locate(kubeconfig, context=kube_context)
    except KubeconfigError as exc:
        raise click.ClickException(str(exc)) from None
    log.info("management cluster credentials from %s", credentials.source)
    try:
        asyncio.run(_run(settings, credentials.configuration))
    except LeadershipLostError as exc:
        raise click.ClickException(f"{exc}; exiting so a standby takes over") from None
    except KeyboardInterrupt:
        pass


def placement_settings(path: Path | None, costs: str) -> FunctionInput:
    """The Input placement reads (``--placement-input``), with ``--gpu-costs`` over its cost
    table; a bad file or cost names the flag, the field and the value."""
    settings = FunctionInput()
    if path is not None:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        if len(docs) != 1:
            raise click.BadParameter(
                f"{path}: expected one Input document, found {len(docs)}",
                param_hint="--placement-input",
            )
        try:
            settings = parse_input(docs[0])
        except SpecError as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="--placement-input") from None
    table = dict(settings.gpu_cost_per_hour)
    for part in filter(None, (p.strip() for p in costs.split(","))):
        product, _, price = part.partition("=")
        try:
            key, value = GpuProduct(product.strip()), float(price)
        except ValueError:
            known = ", ".join(p.value for p in GpuProduct)
            raise click.BadParameter(
                f"{part!r} is not PRODUCT=USD with a product among {known}",
                param_hint="--gpu-costs",
            ) from None
        if not math.isfinite(value) or value < 0:
            raise click.BadParameter(
                f"{part!r}: a cost is a finite number of USD, not negative",
                param_hint="--gpu-costs",
            )
        table[key] = value
    return settings.model_copy(update={"gpu_cost_per_hour": table})


def _lease(
    elect: bool, namespace: str, identity: str, name: str, duration: float
) -> LeaseSettings | None:
    """Leader election's settings, timings scaled from client-go's 15/10/2 s."""
    if not elect:
        return None
    return LeaseSettings(
        namespace,
        identity,
        name=name,
        lease_duration=duration,
        renew_deadline=duration * 2 / 3,
        retry_period=duration * 2 / 15,
    )


def _shards(
    count: int, listed: str, namespace: str, identity: str, prefix: str, duration: float
) -> ShardSettings | None:
    """The sharding flags as settings; a bad list names the flag and the value."""
    if not count:
        if listed:
            raise click.BadParameter("needs --shard-count", param_hint="--shards")
        return None
    shards: tuple[int, ...] | None = None
    if listed:
        try:
            shards = tuple(int(part) for part in listed.split(","))
        except ValueError:
            raise click.BadParameter(
                f"{listed!r} is not a comma-separated list of shard numbers",
                param_hint="--shards",
            ) from None
        outside = [n for n in shards if not 0 <= n < count]
        if outside:
            raise click.BadParameter(
                f"shard {outside[0]} is outside 0..{count - 1} (--shard-count {count})",
                param_hint="--shards",
            )
    return ShardSettings(
        namespace,
        identity,
        count,
        shards=shards,
        prefix=prefix,
        lease_duration=duration,
        renew_deadline=duration * 2 / 3,
        retry_period=duration * 2 / 15,
    )


async def _run(settings: Settings, config: Configuration) -> None:
    named = settings.shards or settings.lease
    mgmt = AioAdapter(config, user_agent=user_agent(named.identity if named else ""))
    try:
        await ReconcilerApp(settings, mgmt).run()
    finally:
        await mgmt.close()


def _address(value: str) -> str | None:
    if not value:
        return None
    return f"0.0.0.0{value}" if value.startswith(":") else value
