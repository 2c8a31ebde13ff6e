"""The companion reconciler at fleet scale, against a naive applier run side by side.

A fleet of ``--clusters`` (default 100) Cluster API clusters with GPU workers, each with the
inference bundle: the AddonBundle the function composes for ``examples/xrs/h100-kserve.yaml``
with ``examples/input-offline.yaml`` (charts from ``file://examples/charts``), one per cluster,
all in one emulated management cluster (`benchmarks._fleet`). Two sides converge that fleet
from cold, each in a fresh process of its own (so that CPU time and RSS are its own alone),
each with the emulator in a child process of its own:

* ``aifleet``  — `ReconcilerApp` with its production settings (16 workers, 2 render threads,
  requeue after 2 s while waiting for health, 10 s while waiting for GPUs, the event-loop
  transport `function.kube.aio`; ``--transport threads``: the `kubernetes` client's urllib3
  transport on threads, `function.kube.adapter`, for comparison), its young garbage
  collections spaced out and its heap frozen out of garbage collection once its informers
  synced (`function.reconciler.collector`).
* ``baseline`` — `benchmarks._baseline.NaiveApplier`: renders and server-side applies every
  object of every add-on on every pass, without hashes or health gates (ClusterResourceSet's
  ``Reconcile``, a ``helm upgrade`` loop), with the same render code, adapter and concurrency.

Measured: time to converge from cold (aifleet: every bundle Ready; baseline: every bundle had
a pass without failure), CPU time of the measured process (``time.process_time``; the
emulator's CPU is not in it) per applied object, effective API writes and write requests per
object (from the emulator's write and request logs), the same for a second full resync,
status and event writes to the management cluster, and memory per managed cluster: growth of
the measured process's VmRSS from just before the start to convergence, over the clusters.

Then drift (`benchmarks._drift`): hand edit to restored (median, p99) and the idle CPU and
requests of drift detection per managed object, found by watch against found by the
once-a-minute poll, at the first fleet size (``--drift only`` measures only that).

    python benchmarks/reconciler.py [--clusters 100,300,1000] [--transport aiohttp|threads]
                                    [--drift yes|no|only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _drift  # noqa: E402 - the root must be importable first
from benchmarks._baseline import NaiveApplier  # noqa: E402
from benchmarks._fleet import EmulatorProcess, Marks  # noqa: E402
from benchmarks._reconciler_report import Phase, SideResult, growth, report  # noqa: E402
from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig  # noqa: E402
from function.kube.aio import AioAdapter  # noqa: E402
from function.kube.client import KubeClient  # noqa: E402
from function.kube.clients import WorkloadClients  # noqa: E402
from function.reconciler.app import ReconcilerApp, Settings  # noqa: E402
from function.reconciler.charts import ChartFetcher  # noqa: E402
from function.reconciler.helm import ChartRenderer  # noqa: E402

SIDES = ("aifleet", "baseline")
TRANSPORTS = ("aiohttp", "threads")
PROVISION_TIMEOUT = 300.0
CONVERGE_TIMEOUT = 600.0
QUIET_SECONDS = 1.0
"""The reconciler has settled once its queue stayed empty and idle this long."""
OFFLINE_SECONDS = 10.0
"""How long the offline clusters stay away (for aifleet: once they are marked Down)."""


class Stopwatch:
    """Wall-clock and process CPU time from `start` to `stop`."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def start(self) -> None:
        """Start (again)."""
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, renders: int, *, ended: float | None = None) -> Phase:
        """The phase until ``ended`` (a ``perf_counter`` value; default now)."""
        end = time.perf_counter() if ended is None else ended
        return Phase(end - self.wall, time.process_time() - self.cpu, renders)


def rss_kib() -> int:
    """Resident set size of this process (VmRSS), KiB, after a garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Run:
    """What a side's run returns to `measure`."""

    cold: Phase
    resync: Phase
    restart: Phase
    rss_growth_kib: int
    idle_rss_kib: int
    notes: str
    catch_up_seconds: float = 0.0
    offline_clusters: int = 0


async def offline_then_back(emulator: EmulatorProcess, count: int, *, down: bool) -> float:
    """Take ``count`` clusters offline, change their bundles, keep them away
    `OFFLINE_SECONDS` (from Down when ``down``) and bring them back: when they answered."""
    await asyncio.to_thread(emulator.call, "set_offline", count=count, offline=True)
    await asyncio.to_thread(emulator.call, "change_bundles", count=count, marker="catch-up")
    if down:
        await emulator.wait_until("down_bundles", count, within=CONVERGE_TIMEOUT)
    await asyncio.sleep(OFFLINE_SECONDS)
    await asyncio.to_thread(emulator.call, "set_offline", count=count, offline=False)
    return time.perf_counter()


class Meter:
    """Measures a phase: stopwatch, and the emulator's logs and CPU from `begin` to `tally`."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.watch = Stopwatch()
        self._marks: Marks = {}
        self._emulator_cpu = 0.0

    async def begin(self) -> None:
        """Freeze the emulator's settled heap (`_Fleet.freeze`), mark the logs and start the
        stopwatch."""
        await asyncio.to_thread(self.emulator.call, "freeze")
        self._marks = await asyncio.to_thread(self.emulator.call, "mark")
        self._emulator_cpu = await asyncio.to_thread(self.emulator.call, "cpu_seconds")
        self.watch.start()

    async def tally(self, phase: Phase) -> Phase:
        """``phase`` with the tally of the logs since `begin`."""
        cpu = await asyncio.to_thread(self.emulator.call, "cpu_seconds")
        phase.emulator_cpu_seconds = cpu - self._emulator_cpu
        tally = await asyncio.to_thread(self.emulator.call, "tally", since=self._marks)
        phase.tally = asdict(tally)
        return phase


def threaded_client(kubeconfig: Any) -> KubeClient:
    """A client on the `kubernetes` client's own transport (threads)."""
    return ApiAdapter(configuration_from_kubeconfig(kubeconfig))


def aifleet_app(kubeconfig: dict[str, Any], settings: Settings, transport: str) -> ReconcilerApp:
    """`ReconcilerApp` with a management client on ``transport``."""
    if transport == "threads":
        client = threaded_client(kubeconfig)
        return ReconcilerApp(settings, client, clients=WorkloadClients(threaded_client))
    return ReconcilerApp(settings, AioAdapter(configuration_from_kubeconfig(kubeconfig)))


@contextlib.asynccontextmanager
async def running(app: ReconcilerApp) -> AsyncIterator[ReconcilerApp]:
    """``app`` running until the block ends, then stopped and its client closed."""
    task = asyncio.create_task(app.run())
    try:
        yield app
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.mgmt.close()


async def run_aifleet(
    emulator: EmulatorProcess, kubeconfig: dict[str, Any], cache: Path, transport: str
) -> Run:
    """Converge with `ReconcilerApp` from cold, resync once, then restart over the settled
    fleet with a new process's memory (a new app: empty caches, new clients)."""
    settings = Settings(chart_cache=cache, charts_root=ROOT, probe_address=None, freeze_heap=True)
    app = aifleet_app(kubeconfig, settings, transport)
    bundles = int(emulator.call("bundles"))
    meter = Meter(emulator)
    rss_before = rss_kib()
    await meter.begin()
    async with running(app):
        converged = await emulator.wait_until("ready_bundles", bundles, within=CONVERGE_TIMEOUT)
        cold = meter.watch.stop(app.converger.counts.renders, ended=converged)
        rss_growth = rss_kib() - rss_before
        await settle(app)
        cold = await meter.tally(cold)
        renders = app.converger.counts.renders
        await meter.begin()
        app.reconciler.resync()
        drained = await settle(app)
        resync = meter.watch.stop(app.converger.counts.renders - renders, ended=drained)
        resync = await meter.tally(resync)
        idle_rss = rss_kib() - rss_before
        notes = reconciles_per_cluster(app, bundles)
        offline = max(1, bundles // 10)
        back = await offline_then_back(emulator, offline, down=True)
        ready = await emulator.wait_until("ready_bundles", bundles, within=CONVERGE_TIMEOUT)
        catch_up = ready - back
        await settle(app)
    again = aifleet_app(kubeconfig, settings, transport)
    await meter.begin()
    async with running(again):
        await again.ready.wait()
        drained = await settle(again)
        restart = await meter.tally(meter.watch.stop(again.converger.counts.renders, ended=drained))
        notes += f"; after the restart: {reconciles_per_cluster(again, bundles)}"
    timing = settings.timing
    notes = (
        f"{settings.workers} workers, {settings.render_threads} render threads, requeue after"
        f" {timing.waiting:g} s waiting for health, {timing.gpu:g} s for GPUs;"
        f" {transport} transport; reconciles per cluster, cold and resync: {notes}"
    )
    return Run(cold, resync, restart, rss_growth, idle_rss, notes, catch_up, offline)


def reconciles_per_cluster(app: ReconcilerApp, clusters: int) -> str:
    """``7.0 target, 3.0 bundle, 12.0 status``: the app's reconcile counter by kind of key."""
    counts = []
    for kind in ("target", "bundle", "status"):
        total = sum(
            app.metrics.registry.get_sample_value(
                "aifleet_reconcile_total", {"key": kind, "result": result}
            )
            or 0.0
            for result in ("success", "retry", "error")
        )
        counts.append(f"{total / clusters:.1f} {kind}")
    return ", ".join(counts)


async def run_baseline(
    emulator: EmulatorProcess, kubeconfig: dict[str, Any], cache: Path, transport: str
) -> Run:
    """Converge with the naive applier from cold, then make one more full pass."""
    defaults = Settings()
    threads = transport == "threads"
    client = (
        threaded_client(kubeconfig)
        if threads
        else AioAdapter(configuration_from_kubeconfig(kubeconfig))
    )
    charts = ChartRenderer(ChartFetcher(cache, file_root=ROOT))
    applier = NaiveApplier(
        client,
        charts,
        workers=defaults.workers,
        render_threads=defaults.render_threads,
        clients=WorkloadClients(threaded_client) if threads else None,
    )
    addons = int(emulator.call("addons_per_bundle"))
    meter = Meter(emulator)
    rss_before = rss_kib()
    await meter.begin()
    try:
        await applier.converge()
        passes = applier.passes
        cold = meter.watch.stop(passes * addons)
        rss_growth = rss_kib() - rss_before
        cold = await meter.tally(cold)
        await meter.begin()
        failed = await applier.full_pass()
        resync = await meter.tally(meter.watch.stop((applier.passes - passes) * addons))
        idle_rss = rss_kib() - rss_before
        offline = max(1, int(emulator.call("bundles")) // 10)
        back = await offline_then_back(emulator, offline, down=False)
        await applier.converge()  # it has no status: caught up when every pass was clean
        catch_up = time.perf_counter() - back
    finally:
        await applier.close()
        await client.close()
    # A loop without memory starts again as it goes on: its restart is one more full pass.
    notes = f"{passes} bundle passes to converge, {failed} failed objects on the second pass"
    return Run(cold, resync, resync, rss_growth, idle_rss, notes, catch_up, offline)


async def settle(app: ReconcilerApp) -> float:
    """Wait until the queue stayed idle, and every drift watch synced, for `QUIET_SECONDS`;
    return when it was last busy (a restart has settled once its watches listed again, too).
    The watches are looked at every tenth time: over 9,000 of them a look is not free."""
    busy_at = time.perf_counter()
    looks = 0
    while time.perf_counter() - busy_at < QUIET_SECONDS:
        unsynced = looks % 10 == 0 and not app.converger.drift.synced()
        if len(app.queue) or app.queue.processing or unsynced:
            busy_at = time.perf_counter()
        looks += 1
        await asyncio.sleep(0.01)
    return busy_at


def measure(side: str, clusters: int, transport: str = "aiohttp") -> SideResult:
    """Set up a fresh fleet in a child process and measure one side against it."""
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as cache:
        kubeconfig = emulator.call("setup", count=clusters)
        asyncio.run(emulator.wait_until("provisioned", clusters, within=PROVISION_TIMEOUT))
        addons = int(emulator.call("addons_per_bundle"))
        run = run_aifleet if side == "aifleet" else run_baseline
        result = asyncio.run(run(emulator, kubeconfig, Path(cache), transport))
    return SideResult(
        side,
        clusters,
        addons,
        result.rss_growth_kib,
        result.idle_rss_kib,
        result.cold,
        result.resync,
        result.restart,
        result.notes,
        result.catch_up_seconds,
        result.offline_clusters,
    )


# --- the report -----------------------------------------------------------------------------


def run_side(side: str, clusters: int, transport: str) -> SideResult:
    """`measure` one side in a fresh Python process."""
    command = [sys.executable, __file__, "--side", side, "--clusters", str(clusters)]
    command += ["--transport", transport]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return SideResult.from_json(output.strip().splitlines()[-1])


def run_drift_side(side: str, clusters: int) -> _drift.DriftResult:
    """`_drift.measure_drift` one side in a fresh Python process."""
    command = [sys.executable, __file__, "--drift-side", side, "--clusters", str(clusters)]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return _drift.DriftResult(**json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    """Measure both sides at each fleet size, each in a fresh process, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clusters", default="100", help="Fleet sizes, comma-separated (100,300,1000)."
    )
    parser.add_argument("--side", choices=SIDES, help="Measure one side and print it as JSON.")
    parser.add_argument("--transport", choices=TRANSPORTS, default="aiohttp")
    parser.add_argument("--drift", choices=("yes", "no", "only"), default="yes")
    parser.add_argument("--drift-side", choices=_drift.SIDES, help="Measure one drift side.")
    args = parser.parse_args()
    sizes = [int(n) for n in str(args.clusters).split(",")]
    if args.side:
        print(json.dumps(asdict(measure(args.side, sizes[0], args.transport))))
        return
    if args.drift_side:
        print(json.dumps(_drift.to_json(_drift.measure_drift(args.drift_side, sizes[0]))))
        return
    if args.drift != "only":
        fleet_tables(sizes, args.transport)
    if args.drift != "no":
        sides = {side: run_drift_side(side, sizes[0]) for side in _drift.SIDES}
        _drift.report(sides["watch"], sides["poll"])


def fleet_tables(sizes: list[int], transport: str) -> None:
    """Both sides of the fleet benchmark at each size, and the growth table."""
    results: dict[int, dict[str, SideResult]] = {}
    for clusters in sizes:
        print(f"Reconciler: {clusters} clusters x the inference bundle, cold, resync, restart")
        results[clusters] = {}
        for side in SIDES:
            started = time.perf_counter()
            results[clusters][side] = run_side(side, clusters, transport)
            print(f"  [{side}: {time.perf_counter() - started:.0f} s with set-up]")
        report(results[clusters]["aifleet"], results[clusters]["baseline"])
    growth(results)


if __name__ == "__main__":
    main()
