"""What `benchmarks/reconciler.py` measured and how it prints: the results of one side at
one fleet size, the side-by-side table against the naive loop, and the growth of every
per-object figure from the smallest fleet measured to the largest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LEGEND = """
objects: distinct objects a side wrote to the workload clusters (rendered ones and the
  namespaces it created). API writes: effective writes in the emulator's write log (a no-op
  apply is none); write/read requests: requests the workload clusters answered; mgmt: the
  management cluster (status, finalizers, events; kubeconfig Secrets and bundles read).
CPU: time.process_time() of the side's own process (reconcile loop, render threads, kubernetes
  client threads); the emulator runs in a child process, its CPU shown apart.
resync: every bundle and target queued again over the converged fleet (drift checks that have
  come due run in it). restart: a new ReconcilerApp (empty memory, new clients) over the
  settled fleet until its queue is idle; the naive loop's restart is one more full pass.
catch-up after offline: a tenth of the clusters taken offline (connection refused), their
  bundles given one more add-on, kept away 10 s (aifleet: counted from Down), then
  answering again: the time until every bundle is Ready for its generation (aifleet: probes
  with back-off doubling from 1 s to 30 s; baseline: passes over every bundle until clean).
KiB per cluster: growth of the process's VmRSS from just before the start, over the clusters
  (converging: at convergence; idle: settled, after the resync; fixed costs such as loaded
  charts included). Marginal idle KiB per cluster: the difference of two fleet sizes' idle
  growth over the difference of their clusters, which leaves the fixed costs out.""".strip()

GROWTH = (
    "CPU ms per applied object",
    "emulator CPU ms per object",
    "seconds per object, cold",
    "API writes per object",
    "read requests per object",
    "mgmt requests per cluster",
    "resync: seconds per cluster",
    "restart: seconds per cluster",
    "KiB per cluster, idle",
)
"""Figures whose growth from the smallest fleet to the largest is printed (target: 1.2 at most)."""


@dataclass
class Phase:
    """One measured phase (cold convergence, a second full resync, a restart) of one side."""

    seconds: float
    cpu_seconds: float
    renders: int
    tally: dict[str, Any] = field(default_factory=dict)
    """`benchmarks._fleet.Tally` of the phase, as a dict."""
    emulator_cpu_seconds: float = 0.0
    """CPU time of the emulator's process from the start of the phase to its tally."""


@dataclass
class SideResult:
    """Everything one side measured; its process prints it as JSON."""

    side: str
    clusters: int
    addons_per_cluster: int
    rss_growth_kib: int
    idle_rss_kib: int
    """VmRSS growth from just before the start to the settled fleet, after its resync."""
    cold: Phase
    resync: Phase
    restart: Phase
    notes: str
    catch_up_seconds: float = 0.0
    """From the offline clusters answering again to every bundle Ready for its generation."""
    offline_clusters: int = 0

    @classmethod
    def from_json(cls, text: str) -> SideResult:
        """Read back what `asdict` wrote."""
        doc = json.loads(text)
        for phase in ("cold", "resync", "restart"):
            doc[phase] = Phase(**doc[phase])
        return cls(**doc)


def _phase_rows(name: str, phase: Phase, objects: int, clusters: int) -> dict[str, float]:
    tally = phase.tally
    return {
        f"{name}: writes": tally["workload_writes"],
        f"{name}: write requests": tally["workload_write_requests"],
        f"{name}: read requests": tally["workload_read_requests"],
        f"{name}: mgmt writes": sum(tally["management_writes"].values()),
        f"{name}: mgmt requests": tally["management_requests"],
        f"{name}: renders": phase.renders,
        f"{name}: seconds": phase.seconds,
        f"{name}: seconds per cluster": phase.seconds / clusters,
        f"{name}: CPU ms per object": phase.cpu_seconds * 1000 / objects,
    }


def rows(result: SideResult) -> dict[str, float]:
    """The figures of the table for one side."""
    cold = result.cold.tally
    objects, clusters = cold["workload_objects"], result.clusters
    return {
        "clusters": clusters,
        "add-ons per cluster": result.addons_per_cluster,
        "objects per cluster": objects / clusters,
        "time to converge, cold (s)": result.cold.seconds,
        "seconds per object, cold": result.cold.seconds / objects,
        "objects/s": objects / result.cold.seconds,
        "CPU ms per applied object": result.cold.cpu_seconds * 1000 / objects,
        "emulator CPU ms per object": result.cold.emulator_cpu_seconds * 1000 / objects,
        "renders per cluster": result.cold.renders / clusters,
        "API writes per object": cold["workload_writes"] / objects,
        "write requests per object": cold["workload_write_requests"] / objects,
        "read requests per object": cold["workload_read_requests"] / objects,
        "mgmt writes per cluster": sum(cold["management_writes"].values()) / clusters,
        "mgmt requests per cluster": cold["management_requests"] / clusters,
        **_phase_rows("resync", result.resync, objects, clusters),
        **_phase_rows("restart", result.restart, objects, clusters),
        "offline clusters": result.offline_clusters,
        "catch-up after offline (s)": result.catch_up_seconds,
        "KiB per cluster, converging": result.rss_growth_kib / clusters,
        "KiB per cluster, idle": result.idle_rss_kib / clusters,
    }


def ratio(mine: float, theirs: float) -> str:
    """``mine / theirs`` for printing."""
    if theirs == 0:
        return "-" if mine == 0 else "inf"
    return f"{mine / theirs:.2f}"


def report(aifleet: SideResult, baseline: SideResult) -> None:
    """Print the side-by-side table of one fleet size, the ratios and what was written."""
    mine, theirs = rows(aifleet), rows(baseline)
    print(f"\n{'':<32}{'aifleet':>12}{'baseline':>12}{'ratio':>8}  (aifleet / baseline)")
    for name, value in mine.items():
        other = theirs[name]
        print(f"{name:<32}{value:>12,.3f}{other:>12,.3f}{ratio(value, other):>8}")
    kinds = aifleet.cold.tally["written_kinds"]
    per_cluster = ", ".join(f"{n / aifleet.clusters:g} {k}" for k, n in sorted(kinds.items()))
    print(f"\nobjects written per cluster (aifleet): {per_cluster}")
    mgmt = aifleet.cold.tally["management_writes"]
    print(
        "aifleet writes to the management cluster: "
        + ", ".join(f"{n} {what}" for what, n in sorted(mgmt.items()))
    )
    print(f"aifleet: {aifleet.notes}\nbaseline: {baseline.notes}")


def growth(results: dict[int, dict[str, SideResult]]) -> None:
    """Print each per-object figure at every fleet size, for both sides, with its growth
    from the smallest fleet to the largest."""
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    table = {n: {side: rows(r) for side, r in by_side.items()} for n, by_side in results.items()}
    sides = sorted(results[small])
    head = "".join(f"{f'{side} {n}':>14}" for side in sides for n in sizes)
    print(f"\nGrowth from {small} to {large} clusters (per object or per cluster)")
    print(f"{'':<30}{head}" + "".join(f"{f'{side} x':>12}" for side in sides))
    for name in GROWTH:
        values = "".join(f"{table[n][side][name]:>14,.4g}" for side in sides for n in sizes)
        ratios = "".join(
            f"{ratio(table[large][side][name], table[small][side][name]):>12}" for side in sides
        )
        print(f"{name:<30}{values}{ratios}")
    for side in sides:
        if len(sizes) > 1:
            extra = results[large][side].idle_rss_kib - results[small][side].idle_rss_kib
            marginal = extra / (large - small)
            print(f"{side}: marginal idle KiB per cluster, {small} to {large}: {marginal:,.1f}")
    print(LEGEND)
