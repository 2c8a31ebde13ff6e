"""Drift made while no reconciler ran, on the emulator: a new process repairs it by each
target's first drift check, within one drift period of starting, and those first checks are
spread over the period rather than all made at once."""

import asyncio
import time
from pathlib import Path

from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    NAMESPACE,
    Harness,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

DRIFT = "ContinuousWithDriftDetection"
PERIOD = 3.0
"""The drift period of these tests: short, so that a whole period passes in a test."""
TIMING = Timing(waiting=0.05, gpu=0.1, drift=PERIOD, status=0.02)
SLACK = 2.0
"""Allowed past a period for the reconciler to start and a repair to be written."""
CLUSTERS = [f"c{i}" for i in range(1, 7)]


def value(h: Harness, cluster: str) -> str:
    return str(h.workload(cluster).get("v1", "ConfigMap", "cfg", "apps")["data"]["value"])


def edit(h: Harness, cluster: str) -> None:
    """A hand edit of the add-on's ConfigMap (no watch of the reconciler sees it)."""
    h.workload(cluster).patch(
        "v1",
        "ConfigMap",
        "cfg",
        {"data": {"value": "edited"}},
        namespace="apps",
        field_manager="kubectl-edit",
    )


def drift_counts(h: Harness) -> dict[str, int]:
    clusters = (h.bundle("fleet").get("status") or {}).get("clusters") or []
    return {
        c["clusterRef"]["name"]: int((c.get("drift") or {}).get("count") or 0) for c in clusters
    }


async def _settled_fleet(h: Harness, clusters: list[str]) -> None:
    for name in clusters:
        h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
    spec = {"clusterSelector": {"matchLabels": {"env": "edge"}}, "clusterRef": None}
    h.mgmt.apply(
        bundle("fleet", [configmap_addon("cfg")], syncMode=DRIFT, **spec), field_manager="test"
    )
    await h.wait_bundle(
        "fleet", lambda b: is_ready(b) and len(b["status"]["clusters"]) == len(clusters)
    )
    await h.settle()


async def test_drift_made_while_down_is_repaired_by_the_first_check(tmp_path: Path) -> None:
    async with running(tmp_path, timing=TIMING) as h:
        await _settled_fleet(h, ["c1"])
        await h.stop()
        edit(h, "c1")
        mark = h.workload("c1").writes.mark()
        started = time.monotonic()
        await h.start()
        await eventually(
            lambda: value(h, "c1") == "v1", within=PERIOD + SLACK, what="the edit repaired"
        )
        assert time.monotonic() - started < PERIOD + SLACK
        repairs = h.workload("c1").writes.filter(since=mark, field_manager="aifleet")
        assert [(w.kind, w.name) for w in repairs] == [("ConfigMap", "cfg")]
        await h.wait_bundle("fleet", lambda b: drift_counts(h) == {"c1": 1})
        await eventually(
            lambda: any(
                e["reason"] == "DriftCorrected"
                for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE)
            ),
            within=5,
            what="a DriftCorrected event",
        )


async def test_a_restart_spreads_its_first_drift_checks_over_the_period(tmp_path: Path) -> None:
    async with running(tmp_path, timing=TIMING) as h:
        await _settled_fleet(h, CLUSTERS)
        await h.stop()
        for name in CLUSTERS:
            edit(h, name)
        started = time.monotonic()
        await h.start()
        repaired: dict[str, float] = {}
        while len(repaired) < len(CLUSTERS) and time.monotonic() - started < PERIOD + SLACK:
            for name in CLUSTERS:
                if name not in repaired and value(h, name) == "v1":
                    repaired[name] = time.monotonic() - started
            await asyncio.sleep(0.02)
        assert sorted(repaired) == CLUSTERS, f"repaired within a period: {repaired}"
        times = sorted(repaired.values())
        # Not all at once: the first checks fall at places over the period.
        assert times[-1] - times[0] >= 0.3 * PERIOD, repaired
        await h.wait_bundle("fleet", lambda b: drift_counts(h) == dict.fromkeys(CLUSTERS, 1))
