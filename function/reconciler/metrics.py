"""Prometheus metrics of the reconciler, on a registry of its own.

Counters and the duration histogram are updated by the worker loop; gauges that describe
state (queue depth, add-on phases per cluster, leadership) are read from the live objects at
scrape time by a collector, so no bookkeeping can drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from function.model.bundlestatus import ClusterAddonsStatus
from function.reconciler.keys import TargetKey


@dataclass
class ApplyCounts:
    """Objects written and pruned, counted where it happens (the converger)."""

    written: int = 0
    pruned: int = 0
    renders: int = 0
    input_hashes: int = 0
    """Input hashes computed (not those reused: the same inputs at the same versions)."""


class Metrics:
    """The reconciler's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "aifleet_reconcile",
            "Reconciles by kind of key and result.",
            ["key", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aifleet_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["key"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
        )

    def watch_state(
        self,
        *,
        queue_depth: Callable[[], int],
        table: Mapping[TargetKey, ClusterAddonsStatus],
        counts: ApplyCounts,
        is_leader: Callable[[], bool],
    ) -> None:
        """Export the live state of the reconciler at each scrape."""
        self.registry.register(_StateCollector(queue_depth, table, counts, is_leader))


class _StateCollector(Collector):
    def __init__(
        self,
        queue_depth: Callable[[], int],
        table: Mapping[TargetKey, ClusterAddonsStatus],
        counts: ApplyCounts,
        is_leader: Callable[[], bool],
    ) -> None:
        self._queue_depth = queue_depth
        self._table = table
        self._counts = counts
        self._is_leader = is_leader

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("aifleet_workqueue_depth", "Keys waiting in the work queue.")
        depth.add_metric([], self._queue_depth())
        yield depth
        leader = GaugeMetricFamily("aifleet_leader", "1 when this replica is the leader.")
        leader.add_metric([], 1.0 if self._is_leader() else 0.0)
        yield leader
        for name, value, text in (
            ("aifleet_applied_objects", self._counts.written, "Objects written to clusters."),
            ("aifleet_pruned_objects", self._counts.pruned, "Objects pruned from clusters."),
            ("aifleet_renders", self._counts.renders, "Add-on renders."),
        ):
            family = CounterMetricFamily(name, text)
            family.add_metric([], value)
            yield family
        phases = GaugeMetricFamily(
            "aifleet_addon_phase",
            "1 for the current phase of each add-on on each cluster.",
            labels=["bundle", "cluster", "addon", "phase"],
        )
        for key, status in list(self._table.items()):
            for addon in status.addons:
                cluster = f"{key.cluster.namespace}/{key.cluster.name}"
                phases.add_metric([str(key.bundle), cluster, addon.name, addon.phase.value], 1.0)
        yield phases
