"""Drift at fleet scale for `benchmarks/reconciler.py`: found by watch against found by poll.

``--clusters`` plain clusters (`benchmarks._fleet.setup_plain`), each with a bundle of
`ADDONS` ConfigMap add-ons in ``ContinuousWithDriftDetection`` mode. Two sides, each a fresh
process with the emulator in a child process of its own:

* ``watch`` — `ReconcilerApp` as shipped: the applied kinds are watched, a drifted object
  queues its target at once; the periodic check (5 min) is only the safety net.
* ``poll``  — the same app with ``Timing(drift=60, drift_watch=False)``: drift found by the
  once-a-minute comparison alone, as before drift was watched.

Measured, once the fleet is converged and settled: an idle minute (CPU of the measured
process, requests to the workload clusters, writes: none are expected) per managed object;
then a hand edit of one object per cluster — edited on even clusters, deleted on odd ones,
`SPACING` s apart — and the time from each edit (its entry in the emulator's write log) to
the reconciler's write restoring it, detection included; and the CPU per restored object.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks._fleet import EmulatorProcess, Marks
from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import AioAdapter
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.timing import Timing

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("watch", "poll")
PREFIX = "drift"
ADDONS = 3
IDLE_SECONDS = 60.0
"""The idle window: one period of the poll side, so that every target is checked in it."""
SPACING = 0.05
"""Seconds between two hand edits (on different clusters)."""
POLL_PERIOD = 60.0
RESTORE_TIMEOUT = 180.0


@dataclass
class DriftResult:
    """One side's figures."""

    side: str
    clusters: int
    managed_objects: int
    watches: int
    idle_cpu_seconds: float
    idle_read_requests: int
    idle_writes: int
    latencies: list[float]
    drift_cpu_seconds: float
    drift_writes: int

    def figures(self) -> dict[str, float]:
        """The printed figures, by name."""
        per_object_minute = 60.0 / IDLE_SECONDS / self.managed_objects
        ordered = sorted(self.latencies) or [float("nan")]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        restored = max(len(self.latencies), 1)
        return {
            "edit to restored, median s": statistics.median(ordered),
            "edit to restored, p99 s": p99,
            "edit to restored, max s": ordered[-1],
            "objects restored": len(self.latencies),
            "CPU ms per restored object": 1000 * self.drift_cpu_seconds / restored,
            "writes per drifted object": self.drift_writes / max(self.clusters, 1),
            "idle CPU ms per managed object per min": 1000
            * self.idle_cpu_seconds
            * per_object_minute,
            "idle read requests per managed object per min": self.idle_read_requests
            * per_object_minute,
            "idle writes": self.idle_writes,
            "watches per cluster": self.watches / self.clusters,
        }


def measure_drift(side: str, clusters: int) -> DriftResult:
    """Set up the fleet in a child process and measure ``side`` against it."""
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as cache:
        kubeconfig = emulator.call("setup_plain", count=clusters, lease_namespace="bench")
        asyncio.run(emulator.wait_until("provisioned", clusters, within=300))
        return asyncio.run(_run(side, clusters, emulator, kubeconfig, Path(cache)))


async def _run(
    side: str, clusters: int, emulator: EmulatorProcess, kubeconfig: dict[str, Any], cache: Path
) -> DriftResult:
    timing = Timing() if side == "watch" else Timing(drift=POLL_PERIOD, drift_watch=False)
    settings = Settings(chart_cache=cache, charts_root=ROOT, probe_address=None, timing=timing)
    app = ReconcilerApp(settings, AioAdapter(configuration_from_kubeconfig(kubeconfig)))
    task = asyncio.create_task(app.run())
    try:
        await _call(
            emulator,
            "apply_bundles",
            prefix=PREFIX,
            count=clusters,
            addons=ADDONS,
            data="v1",
            sync_mode="ContinuousWithDriftDetection",
        )
        await emulator.wait_until("ready_bundles", clusters, within=600)
        await _settle(app)
        marks: Marks = await _call(emulator, "mark")
        cpu = time.process_time()
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = time.process_time() - cpu
        idle = await _call(emulator, "tally", since=marks)
        watches = len(app.converger.drift.active())
        cpu = time.process_time()
        marks = await _call(emulator, "drift", prefix=PREFIX, count=clusters, spacing=SPACING)
        deadline = time.monotonic() + RESTORE_TIMEOUT
        latencies: list[float] = []
        while time.monotonic() < deadline:
            latencies = await _call(
                emulator, "restored", prefix=PREFIX, count=clusters, since=marks
            )
            if len(latencies) == clusters:
                break
            await asyncio.sleep(0.2)
        await _settle(app)
        drift_cpu = time.process_time() - cpu
        drifted = await _call(emulator, "tally", since=marks)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.mgmt.close()
    return DriftResult(
        side,
        clusters,
        clusters * ADDONS,
        watches,
        idle_cpu,
        idle.workload_read_requests,
        idle.workload_writes,
        latencies,
        drift_cpu,
        drifted.workload_writes,
    )


async def _call(emulator: EmulatorProcess, command: str, **kwargs: object) -> Any:
    return await asyncio.to_thread(emulator.call, command, **kwargs)


async def _settle(app: ReconcilerApp, quiet: float = 1.0) -> None:
    busy_at = time.perf_counter()
    while time.perf_counter() - busy_at < quiet:
        if len(app.queue) or app.queue.processing:
            busy_at = time.perf_counter()
        await asyncio.sleep(0.01)


def report(watch: DriftResult, poll: DriftResult) -> None:
    """Print the two sides side by side, with their ratio."""
    print(f"\nDrift: {watch.clusters} clusters x {ADDONS} ConfigMap add-ons, drift detection on")
    print(f"  {'figure':<48}{'watch':>10}{'poll 60 s':>12}{'watch/poll':>12}")
    theirs = poll.figures()
    for name, mine in watch.figures().items():
        other = theirs[name]
        ratio = f"{mine / other:.3f}" if other else "-"
        print(f"  {name:<48}{mine:>10.3f}{other:>12.3f}{ratio:>12}")
    print(
        "  edit to restored: from a hand edit's entry in the write log to the reconciler's"
        " write restoring it (detection included); one object per cluster, edited on even"
        f" clusters and deleted on odd ones, {SPACING:g} s apart. Idle: {IDLE_SECONDS:g} s"
        " of a settled fleet, no drift."
    )


def to_json(result: DriftResult) -> dict[str, object]:
    """A result as its process prints it."""
    return asdict(result)
