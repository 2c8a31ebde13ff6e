"""Sharded reconciler replicas over one emulated fleet: throughput with 1, 2 and 4 replicas,
and the takeover after one of them is killed.

A fleet of ``--clusters`` (default 2,000) plain Cluster API clusters, provisioned by the
emulator in a child process (`benchmarks._fleet`). For each replica count R, R ``aifleet
reconcile`` processes start with ``--shard-count`` (default 8) and share the shards through
their Leases; once every shard is held, a bundle of ``--addons`` ConfigMap add-ons is created
for every cluster (a new set per run, so each run starts cold) and the clock runs until every
bundle is Ready for its generation. Measured per run: wall-clock time and clusters per second
(with its ratio to one replica), each replica's CPU (``/proc/<pid>/stat``) and the emulator's,
the writes of each replica (the emulator's write log by User-Agent), clusters written by more
than one replica and objects written more than once.

On a machine with fewer cores than replicas plus the emulator, wall-clock throughput is bound
by the machine, not by the replicas: the table prints that bound (cores over the CPU the run
spent per cluster, reconcilers and emulator together) and the throughput the replicas' own CPU
allows (clusters over the busiest replica's CPU time), which is what more cores would give.

Split bundle: for each replica count, one bundle whose selector picks all ``--clusters``
clusters (so they span every shard): each replica converges its shards' clusters and applies
their status entries as its shards' field managers, the holder of the bundle's own shard the
aggregates. Measured: clusters per second until the bundle is Ready with every entry ready at
its generation, the status writes (requests that took), their body size p50 and max, and the
writes refused with 409 Conflict and retried (none are expected: server-side apply of a list
map has no read-modify-write).

Takeover: two replicas converge a run, every bundle then changes (a new generation, one object
per cluster), one replica is killed with SIGKILL a moment into the rollout, and the survivor's
time to hold every shard (the Lease period is ``--lease-duration``) and to finish the rollout
is measured, with the writes of the rollout: each changed object once, nothing twice.

    python benchmarks/shards.py [--clusters 2000] [--replicas 1,2,4] [--shards 8]
        [--scenarios per-cluster,split,takeover]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fleet import EmulatorProcess  # noqa: E402 - the root must be importable first

LEASES = "aifleet-system"
PROVISION_TIMEOUT = 600.0
CONVERGE_TIMEOUT = 900.0
KILL_AFTER = 1.0
"""Seconds into the takeover rollout at which one replica is killed."""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Replicas:
    """``aifleet reconcile`` processes sharing the shards of one fleet."""

    def __init__(self, kubeconfig: Path, workdir: Path, shards: int, lease: float) -> None:
        self._kubeconfig = kubeconfig
        self._workdir = workdir
        self._shards = shards
        self._lease = lease
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, identities: list[str]) -> None:
        """Start one process per identity."""
        for identity in identities:
            command = [sys.executable, "-m", "function.main", "reconcile"]
            command += ["--kubeconfig", str(self._kubeconfig), "--identity", identity]
            command += ["--lease-namespace", LEASES, "--shard-count", str(self._shards)]
            command += ["--lease-duration", f"{self._lease:g}", "--probe-address", ""]
            command += ["--chart-cache", str(self._workdir / f"charts-{identity}")]
            log = (self._workdir / f"{identity}.log").open("ab")
            self.processes[identity] = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def cpu(self) -> dict[str, float]:
        """CPU seconds of each live process."""
        return {i: cpu_seconds(p.pid) for i, p in self.processes.items() if p.poll() is None}

    def kill(self, identity: str) -> None:
        """SIGKILL one process: it hands nothing back."""
        process = self.processes.pop(identity)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every process (each hands its Leases back) and wait for it."""
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@dataclass
class Run:
    """One replica count's cold convergence."""

    replicas: int
    seconds: float
    clusters: int
    cpu: dict[str, float]
    emulator_cpu: float
    writers: dict[str, Any]
    creating: float = 0.0
    """Seconds the emulator took to store the bundles (in ``seconds``, the same for any
    replica count)."""

    @property
    def rate(self) -> float:
        """Clusters per second, wall clock."""
        return self.clusters / self.seconds


async def held_by(
    emulator: EmulatorProcess, identities: set[str], shards: int, *, within: float
) -> float:
    """Wait until every shard is held, by exactly ``identities``; the time it was."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        holders = await asyncio.to_thread(emulator.call, "lease_holders", namespace=LEASES)
        held = [h for h in holders.values() if h]
        if len(held) == shards and set(held) == identities:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"shards not held by {sorted(identities)} after {within:.0f} s")


async def converge(
    emulator: EmulatorProcess, replicas: Replicas, count: int, args: argparse.Namespace
) -> Run:
    """Start ``count`` replicas, let them share the shards, converge a new set of bundles."""
    prefix = f"run{count}"
    identities = [f"{prefix}-r{i}" for i in range(count)]
    replicas.start(identities)
    try:
        await held_by(emulator, set(identities), args.shards, within=120)
        marks = emulator.call("mark")
        cpu_before, emulator_before = replicas.cpu(), emulator.call("cpu_seconds")
        started = time.perf_counter()
        emulator.call(
            "apply_bundles", prefix=prefix, count=args.clusters, addons=args.addons, data="v1"
        )
        created = time.perf_counter()
        done = await emulator.wait_until(
            "ready_bundles", args.clusters, within=CONVERGE_TIMEOUT, poll=0.25, prefix=prefix
        )
        cpu_after, emulator_after = replicas.cpu(), emulator.call("cpu_seconds")
        writers = emulator.call("writers", since=marks)
    finally:
        replicas.stop()
    emulator.call("remove_bundles", prefix=prefix)
    cpu = {i: cpu_after[i] - cpu_before[i] for i in identities}
    return Run(
        count,
        done - started,
        args.clusters,
        cpu,
        emulator_after - emulator_before,
        writers,
        created - started,
    )


@dataclass
class SplitRun:
    """One replica count converging one bundle over every cluster."""

    replicas: int
    seconds: float
    clusters: int
    cpu: dict[str, float]
    emulator_cpu: float
    status: dict[str, Any]
    writers: dict[str, Any]

    @property
    def rate(self) -> float:
        """Clusters per second, wall clock."""
        return self.clusters / self.seconds


async def converge_split(
    emulator: EmulatorProcess, replicas: Replicas, count: int, args: argparse.Namespace
) -> SplitRun:
    """Start ``count`` replicas, let them share the shards, converge one bundle selecting
    every cluster."""
    prefix = f"split{count}"
    identities = [f"{prefix}-r{i}" for i in range(count)]
    replicas.start(identities)
    try:
        await held_by(emulator, set(identities), args.shards, within=120)
        marks = emulator.call("mark")
        cpu_before, emulator_before = replicas.cpu(), emulator.call("cpu_seconds")
        started = time.perf_counter()
        emulator.call("apply_split_bundle", prefix=prefix, addons=args.addons, data="v1")
        done = await emulator.wait_until(
            "split_ready", args.clusters, within=CONVERGE_TIMEOUT, poll=0.25, prefix=prefix
        )
        cpu_after, emulator_after = replicas.cpu(), emulator.call("cpu_seconds")
        status = emulator.call("status_writes", since=marks, name=f"{prefix}-split")
        writers = emulator.call("writers", since=marks)
    finally:
        replicas.stop()
    emulator.call("remove_bundles", prefix=prefix)
    cpu = {i: cpu_after[i] - cpu_before[i] for i in identities}
    return SplitRun(
        count, done - started, args.clusters, cpu, emulator_after - emulator_before, status, writers
    )


@dataclass
class Takeover:
    """Two replicas, one killed during a rollout."""

    lease_duration: float
    leases_after: float
    """Seconds from the kill until the survivor held every shard."""
    finished_after: float
    """Seconds from the kill until every bundle was Ready at the new generation."""
    rollout_seconds: float
    writers: dict[str, Any]


async def takeover(
    emulator: EmulatorProcess, replicas: Replicas, args: argparse.Namespace
) -> Takeover:
    """Converge with two replicas, change every bundle, kill one during the rollout."""
    prefix, identities = "takeover", ["takeover-a", "takeover-b"]
    replicas.start(identities)
    try:
        await held_by(emulator, set(identities), args.shards, within=120)
        emulator.call(
            "apply_bundles", prefix=prefix, count=args.clusters, addons=args.addons, data="v1"
        )
        await emulator.wait_until(
            "ready_bundles", args.clusters, within=CONVERGE_TIMEOUT, poll=0.25, prefix=prefix
        )
        await asyncio.sleep(1.0)  # status writes of the last targets
        marks = emulator.call("mark")
        started = time.perf_counter()
        emulator.call(
            "apply_bundles", prefix=prefix, count=args.clusters, addons=args.addons, data="v2"
        )
        await asyncio.sleep(KILL_AFTER)
        replicas.kill(identities[0])
        killed = time.perf_counter()
        leases = await held_by(emulator, {identities[1]}, args.shards, within=120)
        done = await emulator.wait_until(
            "ready_bundles", args.clusters, within=CONVERGE_TIMEOUT, poll=0.25, prefix=prefix
        )
        await asyncio.sleep(1.0)
        writers = emulator.call("writers", since=marks)
    finally:
        replicas.stop()
    emulator.call("remove_bundles", prefix=prefix)
    return Takeover(args.lease_duration, leases - killed, done - killed, done - started, writers)


def report_split(runs: list[SplitRun], args: argparse.Namespace) -> None:
    """Print the split bundle's table."""
    cores = os.cpu_count() or 1
    base = runs[0].rate
    print(
        f"\nOne bundle over all {args.clusters} clusters ({args.shards} shards):"
        f"\n{'replicas':>8}{'seconds':>9}{'clusters/s':>12}{'ratio':>7}{'CPU ms/cluster':>16}"
        f"{'emulator':>10}{'machine bound':>15}{'status writes':>15}{'bytes p50':>11}"
        f"{'bytes max':>11}{'409 retried':>13}{'shared':>8}{'twice':>7}"
    )
    for run in runs:
        sizes = run.status["sizes"] or [0]
        spent = sum(run.cpu.values())
        machine = cores / ((spent + run.emulator_cpu) / run.clusters)
        print(
            f"{run.replicas:>8}{run.seconds:>9.1f}{run.rate:>12.1f}{run.rate / base:>7.2f}"
            f"{spent * 1000 / run.clusters:>16.2f}"
            f"{run.emulator_cpu * 1000 / run.clusters:>10.2f}{machine:>15.1f}"
            f"{run.status['writes']:>15}"
            f"{sizes[len(sizes) // 2]:>11}{sizes[-1]:>11}{run.status['conflicts']:>13}"
            f"{run.writers['shared_clusters']:>8}{run.writers['duplicates']:>7}"
        )
    for run in runs:
        agents = ", ".join(f"{n} by {a}" for a, n in sorted(run.status["by_agent"].items()))
        print(f"  {run.replicas} replica(s): status writes {agents}")


def report(runs: list[Run], taken: Takeover | None, args: argparse.Namespace) -> None:
    """Print the throughput table, the bounds and the takeover."""
    cores = os.cpu_count() or 1
    if not runs:
        return
    base, base_seconds = runs[0].rate, runs[0].seconds
    print(
        f"\n{'replicas':>8}{'seconds':>9}{'clusters/s':>12}{'ratio':>7}"
        f"{'CPU ms/cluster':>16}{'emulator':>10}{'machine bound':>15}{'replica bound':>15}"
        f"{'shared':>8}{'twice':>7}"
    )
    for run in runs:
        spent = sum(run.cpu.values())
        per_cluster = spent * 1000 / run.clusters
        emulator = run.emulator_cpu * 1000 / run.clusters
        machine = cores / ((spent + run.emulator_cpu) / run.clusters)
        replica = run.clusters / max(run.cpu.values())
        print(
            f"{run.replicas:>8}{run.seconds:>9.1f}{run.rate:>12.1f}{run.rate / base:>7.2f}"
            f"{per_cluster:>16.2f}{emulator:>10.2f}{machine:>15.1f}{replica:>15.1f}"
            f"{run.writers['shared_clusters']:>8}{run.writers['duplicates']:>7}"
        )
    for run in runs:
        agents = ", ".join(f"{n} by {a}" for a, n in sorted(run.writers["by_agent"].items()))
        cpu = ", ".join(f"{i} {s:.1f} s" for i, s in sorted(run.cpu.items()))
        print(
            f"  {run.replicas} replica(s): writes {agents}; CPU {cpu}; bundles stored in"
            f" {run.creating:.1f} s, ratio after that"
            f" {(base_seconds - runs[0].creating) / (run.seconds - run.creating):.2f}"
        )
    print(
        f"\n{args.clusters} clusters x {args.addons} ConfigMap add-ons, {args.shards} shards,"
        f" {cores} cores. ratio: clusters/s over one replica's. CPU ms/cluster: the replicas'"
        " CPU together; emulator: the emulator's. machine bound: cores over both, per cluster"
        " (what this machine can do whatever the replicas). replica bound: clusters over the"
        " busiest replica's CPU (what the replicas could do with a core each). shared: clusters"
        " written by more than one replica; twice: objects written more than once."
    )
    if taken is not None:
        agents = ", ".join(f"{n} by {a}" for a, n in sorted(taken.writers["by_agent"].items()))
        print(
            f"\nTakeover (2 replicas, one SIGKILLed {KILL_AFTER:g} s into a rollout of"
            f" {args.clusters} changed bundles, lease period {taken.lease_duration:g} s):"
            f" every shard held by the survivor {taken.leases_after:.1f} s after the kill,"
            f" every bundle Ready at the new generation {taken.finished_after:.1f} s after it"
            f" ({taken.rollout_seconds:.1f} s of rollout); writes of the rollout: {agents};"
            f" objects written more than once: {taken.writers['duplicates']}"
        )


async def main_async(args: argparse.Namespace) -> None:
    """Set the fleet up once, then measure each replica count and the takeover."""
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        started = time.perf_counter()
        kubeconfig = emulator.call("setup_plain", count=args.clusters, lease_namespace=LEASES)
        await emulator.wait_until("provisioned", args.clusters, within=PROVISION_TIMEOUT, poll=0.5)
        print(f"  [{args.clusters} clusters provisioned in {time.perf_counter() - started:.0f} s]")
        path = workdir / "mgmt.yaml"
        path.write_text(yaml.safe_dump(kubeconfig))
        replicas = Replicas(path, workdir, args.shards, args.lease_duration)
        runs, splits = [], []
        for count in args.replicas if "per-cluster" in args.scenarios else []:
            runs.append(await converge(emulator, replicas, count, args))
            print(f"  [{count} replica(s): {runs[-1].seconds:.1f} s]")
        for count in args.replicas if "split" in args.scenarios else []:
            splits.append(await converge_split(emulator, replicas, count, args))
            print(f"  [split bundle, {count} replica(s): {splits[-1].seconds:.1f} s]")
        taken = None
        if "takeover" in args.scenarios and not args.no_takeover:
            taken = await takeover(emulator, replicas, args)
    report(runs, taken, args)
    if splits:
        report_split(splits, args)


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--replicas", default="1,2,4", help="Replica counts, comma-separated.")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--addons", type=int, default=2, help="ConfigMap add-ons per cluster.")
    parser.add_argument("--lease-duration", type=float, default=5.0)
    parser.add_argument("--no-takeover", action="store_true")
    parser.add_argument(
        "--scenarios",
        default="per-cluster,split,takeover",
        help="Comma-separated: per-cluster (a bundle per cluster), split (one bundle over"
        " every cluster), takeover.",
    )
    args = parser.parse_args()
    args.scenarios = set(str(args.scenarios).split(","))
    args.replicas = [int(n) for n in str(args.replicas).split(",")]
    print(f"Shards: {args.clusters} clusters, replicas {args.replicas}, {args.shards} shards")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
