"""What a settled managed cluster costs the reconciler in memory, and who holds it.

Two fleets of the inference bundle (`benchmarks._fleet`, the emulator in a child process),
``N`` and ``2N`` clusters (``--clusters N``, default 100), each converged from cold by a
`ReconcilerApp` in a fresh process of its own with `tracemalloc` tracing from before the
start; once the fleet is settled (every bundle Ready, a resync drained) the process takes a
snapshot, grouped by the innermost ``--frames`` frames of where each live block was
allocated. The two snapshots' difference over ``N`` is the Python heap a managed cluster
holds, without the fixed costs (charts, modules, the management informers' own state); the
largest holders are printed, and the whole difference by kind of holder (`HOLDERS`: the
management informers' objects, connections and watch streams, the workload watches' kept
objects, parsed models, discovery). VmRSS growth over the same window is printed beside it,
which also counts what tracemalloc cannot see (OpenSSL, C libraries, allocator slack).

    python benchmarks/memory.py [--clusters 100] [--frames 4] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import pickle
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fleet import EmulatorProcess  # noqa: E402 - the root must be importable first
from benchmarks.reconciler import (  # noqa: E402
    CONVERGE_TIMEOUT,
    PROVISION_TIMEOUT,
    aifleet_app,
    rss_kib,
    running,
    settle,
)
from function.reconciler.app import Settings  # noqa: E402

HOLDERS = (
    ("management informers' objects", ("reconciler/watch.py",), False),
    (
        "connections, watch streams, event loop",
        ("aiohttp/", "asyncio/", "yarl/", "multidict/", "kube/aio.py", "eventwatch.py"),
        True,
    ),
    (
        "workload watches' kept objects",
        ("driftwatch.py", "triggerplan.py", "kube/rest.py"),
        False,
    ),
    ("parsed models (status, specs)", ("pydantic/", "gate.py", "/model/"), False),
    ("discovery", ("discovery.py",), False),
)
"""Kinds of holder, each named by where its blocks were allocated: in any of the traced
frames, or (True) in the innermost one; the first that matches wins. An approximation, as
good as ``--frames`` is deep (4 or more)."""


def holder(traceback: tracemalloc.Traceback) -> str:
    """The kind of holder a block's allocation belongs to (`HOLDERS`), or "other"."""
    for name, markers, innermost in HOLDERS:
        frames = traceback[-1:] if innermost else traceback
        if any(marker in frame.filename for frame in frames for marker in markers):
            return name
    return "other"


async def settled_snapshot(
    emulator: EmulatorProcess, kubeconfig: dict[str, Any], cache: Path, frames: int
) -> tuple[tracemalloc.Snapshot, int]:
    """Converge from cold with tracing on, resync, settle: the snapshot and VmRSS growth."""
    settings = Settings(chart_cache=cache, charts_root=ROOT, probe_address=None)
    bundles = int(emulator.call("bundles"))
    rss_before = rss_kib()
    tracemalloc.start(frames)
    app = aifleet_app(kubeconfig, settings, "aiohttp")
    async with running(app):
        await emulator.wait_until("ready_bundles", bundles, within=CONVERGE_TIMEOUT)
        await settle(app)
        app.reconciler.resync()
        await settle(app)
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        rss = rss_kib() - rss_before
    tracemalloc.stop()
    return snapshot, rss


def measure(clusters: int, frames: int, out: Path) -> None:
    """One fleet size in this process: pickle the filtered snapshot and VmRSS to ``out``."""
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as cache:
        kubeconfig = emulator.call("setup", count=clusters)
        asyncio.run(emulator.wait_until("provisioned", clusters, within=PROVISION_TIMEOUT))
        snapshot, rss = asyncio.run(settled_snapshot(emulator, kubeconfig, Path(cache), frames))
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    out.write_bytes(pickle.dumps((snapshot, rss)))


def run_size(clusters: int, frames: int, out: Path) -> tuple[tracemalloc.Snapshot, int]:
    """`measure` in a fresh Python process."""
    command = [
        sys.executable,
        __file__,
        "--one",
        str(clusters),
        "--frames",
        str(frames),
    ]
    subprocess.run([*command, "--out", str(out)], check=True)
    snapshot, rss = pickle.loads(out.read_bytes())
    return snapshot, rss


def main() -> None:
    """Measure ``N`` and ``2N`` clusters and print the per-cluster difference by holder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--one", type=int, help="Measure one fleet size (internal).")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.one:
        measure(args.one, args.frames, args.out)
        return
    n = args.clusters
    with tempfile.TemporaryDirectory() as work:
        small, small_rss = run_size(n, args.frames, Path(work) / "small")
        large, large_rss = run_size(2 * n, args.frames, Path(work) / "large")
    stats = large.compare_to(small, "traceback")
    heap = sum(s.size_diff for s in stats) / 1024 / n
    rss = (large_rss - small_rss) / n
    print(f"Memory per settled managed cluster, {n} to {2 * n} clusters x the inference bundle:")
    print(f"  Python heap (tracemalloc): {heap:.1f} KiB; VmRSS: {rss:.1f} KiB")
    print(f"  VmRSS growth per cluster: {small_rss / n:.1f} KiB at {n}, {large_rss / 2 / n:.1f}")
    kinds: dict[str, float] = {}
    for stat in stats:
        kinds[holder(stat.traceback)] = kinds.get(holder(stat.traceback), 0.0) + stat.size_diff
    print("\nBy kind of holder (KiB per cluster):")
    for name, size in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"{size / 1024 / n:8.1f}  {name}")
    print(f"\nLargest holders per cluster (KiB, blocks), {args.frames} innermost frames:")
    for stat in sorted(stats, key=lambda s: -s.size_diff)[: args.top]:
        where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback))
        print(f"{stat.size_diff / 1024 / n:8.1f} {stat.count_diff / n:7.1f}  {where}")
    by_kind = {name: round(size / 1024 / n, 1) for name, size in kinds.items()}
    print(json.dumps({"heap_kib": heap, "rss_kib": rss, "by_kind": by_kind}))


if __name__ == "__main__":
    main()
