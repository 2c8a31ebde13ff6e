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
which also counts what tracemalloc cannot see (OpenSSL, C libraries, allocator slack), and
that gap by allocator (`allocators`, per cluster as well): pymalloc's arenas with the free
blocks and pools in them (``sys._debugmallocstats``), which a cold convergence's peak leaves
behind and pymalloc returns only as whole arenas, and glibc's heap in use and free
(``mallinfo2``), whose free pages `function.kube.heaptrim` hands back once requests pause.
With ``--idle S`` the snapshot waits ``S`` seconds more, the fleet idle: past the request
pools' keep-alive (`function.kube.aio.KEEPALIVE_SECONDS`, 15 s; aiohttp's own sweep of idle
connections may take twice that), a settled cluster holds its watches and none of the
connections its convergence opened.

With ``--baseline REF`` (a commit, say ``main``) the same measurement runs side by side on
that commit's tree (extracted with ``git archive``, run with this interpreter and measured by
this version of this script), the fleet sizes alternating between the two, and both are
sorted by this version's `HOLDERS`; the ratios are this tree's figures over the baseline's.

    python benchmarks/memory.py [--clusters 100] [--frames 4] [--top 25] [--baseline main]
                                [--idle 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
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
    ("management informers' objects", ("reconciler/watch.py", "reconciler/store.py"), False),
    (
        "connections, watch streams, event loop",
        (
            "aiohttp/",
            "asyncio/",
            "yarl/",
            "multidict/",
            "kube/aio.py",
            "kube/watchstream.py",
            "eventwatch.py",
        ),
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


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_PYMALLOC = {
    "pymalloc arenas": r"(\d+) arenas \* \d+ bytes/arena\s+=\s+([\d,]+)",
    "pymalloc free blocks": r"# bytes in available blocks\s+=\s+([\d,]+)",
    "pymalloc free pools": r"\d+ unused pools \* \d+ bytes\s+=\s+([\d,]+)",
}


def allocators() -> dict[str, float]:
    """KiB each allocator holds now: pymalloc's arenas and what in them is free (from
    ``sys._debugmallocstats``, which writes to the C stderr), glibc's heap in use and free
    (``mallinfo2``, glibc only) and VmRSS."""
    out: dict[str, float] = {}
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode()
    for name, pattern in _PYMALLOC.items():
        found = re.search(pattern, text)
        out[name] = int(found.groups()[-1].replace(",", "")) / 1024 if found else 0.0
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = _Mallinfo2
        info = mallinfo2()
        out["glibc in use"] = (info.uordblks + info.hblkhd) / 1024
        out["glibc free"] = info.fordblks / 1024
    out["VmRSS"] = float(rss_kib())
    return out


async def settled_snapshot(
    emulator: EmulatorProcess, kubeconfig: dict[str, Any], cache: Path, frames: int, idle: float
) -> tuple[tracemalloc.Snapshot, int, dict[str, float]]:
    """Converge from cold with tracing on, resync, settle, stay idle ``idle`` seconds: the
    snapshot, VmRSS growth and `allocators` growth."""
    settings = Settings(chart_cache=cache, charts_root=ROOT, probe_address=None)
    bundles = int(emulator.call("bundles"))
    rss_before = rss_kib()
    held_before = allocators()
    tracemalloc.start(frames)
    app = aifleet_app(kubeconfig, settings, "aiohttp")
    async with running(app):
        await emulator.wait_until("ready_bundles", bundles, within=CONVERGE_TIMEOUT)
        await settle(app)
        app.reconciler.resync()
        await settle(app)
        await asyncio.sleep(idle)
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        rss = rss_kib() - rss_before
        held = {name: size - held_before.get(name, 0.0) for name, size in allocators().items()}
    tracemalloc.stop()
    return snapshot, rss, held


def measure(clusters: int, frames: int, idle: float, out: Path) -> None:
    """One fleet size in this process: pickle the filtered snapshot and VmRSS to ``out``."""
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as cache:
        kubeconfig = emulator.call("setup", count=clusters)
        asyncio.run(emulator.wait_until("provisioned", clusters, within=PROVISION_TIMEOUT))
        snapshot, rss, held = asyncio.run(
            settled_snapshot(emulator, kubeconfig, Path(cache), frames, idle)
        )
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    out.write_bytes(pickle.dumps((snapshot, rss, held)))


def run_size(
    root: Path, clusters: int, frames: int, idle: float, out: Path
) -> tuple[Measured, int]:
    """`measure` in a fresh Python process, on the tree at ``root``; with the most sockets
    that process held open at once (its connections to the emulator's clusters)."""
    script = root / "benchmarks" / "memory.py"
    command = [sys.executable, str(script), "--one", str(clusters), "--frames", str(frames)]
    command += ["--idle", str(idle)]
    child = subprocess.Popen([*command, "--out", str(out)], cwd=root)
    sockets = 0
    while child.poll() is None:
        sockets = max(sockets, open_sockets(child.pid))
        time.sleep(0.5)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    snapshot, rss, held = pickle.loads(out.read_bytes())
    return (snapshot, rss, held), sockets


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open now."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    try:
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd).startswith("socket:")
    except OSError:  # the process ended
        pass
    return count


Measured = tuple[tracemalloc.Snapshot, int, dict[str, float]]
"""A settled fleet's snapshot, VmRSS growth and `allocators` growth (KiB)."""


@dataclass
class Side:
    """One tree's per-cluster figures: heap and VmRSS (KiB), heap by kind of holder, the
    difference's statistics, and what each allocator holds (`allocators`)."""

    heap: float
    rss: float
    kinds: dict[str, float]
    stats: list[tracemalloc.StatisticDiff]
    held: dict[str, float]


def per_cluster(small: Measured, large: Measured, n: int) -> Side:
    """The ``2N`` minus ``N`` difference over ``N``."""
    stats = large[0].compare_to(small[0], "traceback")
    kinds: dict[str, float] = {}
    for stat in stats:
        name = holder(stat.traceback)
        kinds[name] = kinds.get(name, 0.0) + stat.size_diff / 1024 / n
    heap = sum(s.size_diff for s in stats) / 1024 / n
    held = {name: (size - small[2].get(name, 0.0)) / n for name, size in large[2].items()}
    return Side(heap, (large[1] - small[1]) / n, kinds, stats, held)


def extract(ref: str, into: Path) -> Path:
    """The tree of commit ``ref`` of this repository, written under ``into``."""
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=out, check=True)
    tree = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    shutil.copyfile(Path(__file__), tree / "benchmarks" / "memory.py")  # measured the same way
    return tree


def main() -> None:
    """Measure ``N`` and ``2N`` clusters and print the per-cluster difference by holder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--baseline", help="A commit to measure side by side (e.g. main).")
    parser.add_argument("--idle", type=float, default=0.0, help="Seconds idle before the snapshot.")
    parser.add_argument("--one", type=int, help="Measure one fleet size (internal).")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.one:
        measure(args.one, args.frames, args.idle, args.out)
        return
    n = args.clusters
    with tempfile.TemporaryDirectory() as work:
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {f"baseline {args.baseline}": extract(args.baseline, Path(work)), **trees}
        runs: dict[str, list[Measured]] = {name: [] for name in trees}
        sockets: dict[str, list[int]] = {name: [] for name in trees}
        for size in (n, 2 * n):
            for name, root in trees.items():
                out = Path(work) / f"{len(runs[name])}-{size}"
                measured, held = run_size(root, size, args.frames, args.idle, out)
                runs[name].append(measured)
                sockets[name].append(held)
    sides = {name: per_cluster(small, large, n) for name, (small, large) in runs.items()}
    idle = f", snapshot after {args.idle:g} s idle" if args.idle else ""
    print(
        f"Memory per settled managed cluster, {n} to {2 * n} clusters x the inference bundle{idle}:"
    )
    for name, side in sides.items():
        print(f"  {name}: Python heap (tracemalloc) {side.heap:.1f} KiB; VmRSS {side.rss:.1f} KiB")
        small, large = sockets[name]
        print(f"    most sockets open at once: {small} at {n} clusters, {large} at {2 * n}")
    names = sorted({kind for side in sides.values() for kind in side.kinds})
    print("\nBy kind of holder (KiB per cluster): " + " | ".join(sides))
    for kind in sorted(names, key=lambda k: -sides["this tree"].kinds.get(k, 0.0)):
        figures = "  ".join(f"{side.kinds.get(kind, 0.0):8.1f}" for side in sides.values())
        print(f"{figures}  {kind}")
    print(
        "\nBy allocator (KiB per cluster, tracemalloc's records in glibc's): " + " | ".join(sides)
    )
    for name in sides["this tree"].held:
        figures = "  ".join(f"{side.held.get(name, 0.0):8.1f}" for side in sides.values())
        print(f"{figures}  {name}")
    this = sides["this tree"]
    print(f"\nLargest holders per cluster (KiB, blocks), {args.frames} innermost frames:")
    for stat in sorted(this.stats, key=lambda s: -s.size_diff)[: args.top]:
        where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback))
        print(f"{stat.size_diff / 1024 / n:8.1f} {stat.count_diff / n:7.1f}  {where}")
    report: dict[str, Any] = {
        "heap_kib": this.heap,
        "rss_kib": this.rss,
        "by_kind": {kind: round(size, 1) for kind, size in this.kinds.items()},
        "by_allocator": {name: round(size, 1) for name, size in this.held.items()},
        "sockets": sockets["this tree"],
    }
    if args.baseline:
        base = sides[f"baseline {args.baseline}"]
        report["baseline"] = {
            "heap_kib": base.heap,
            "rss_kib": base.rss,
            "by_kind": {kind: round(size, 1) for kind, size in base.kinds.items()},
            "by_allocator": {name: round(size, 1) for name, size in base.held.items()},
            "sockets": sockets[f"baseline {args.baseline}"],
        }
        report["heap_ratio"] = round(this.heap / base.heap, 2)
        print(f"\nHeap per cluster, this tree / baseline: {report['heap_ratio']:.2f}x")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
