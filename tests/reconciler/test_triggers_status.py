"""An EventTrigger's status under a burst of events: one write, every Event exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.reconciler.harness import Harness, capi_cluster, is_ready, running
from tests.reconciler.triggers_harness import (
    events_of,
    gpu_source,
    matching_names,
    ready_reason,
    trigger,
    utilization,
    wait_trigger,
)

GPUS = [f"gpu-{i}" for i in range(10)]
FIXED_ADDON = {
    "name": "extra-server",
    "namespace": "serving",
    "manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra-server}\n"
    "data: {cluster: '{{ cluster.name }}'}\n",
}


def status_writes(h: Harness, since: int) -> int:
    """Writes of the trigger's status since ``since``."""
    return h.mgmt.writes.count(since=since, kind="EventTrigger", name="scale-up")


def settled_on(names: list[str]) -> Any:
    """The trigger reports ``names`` matching and its one add-on set ready and healthy."""

    def check(t: dict[str, Any]) -> bool:
        clusters = (t.get("status") or {}).get("clusters") or []
        made = clusters[0].get("instantiated") or [] if clusters else []
        return (
            matching_names(t) == names
            and [m["ready"] for m in made] == [True]
            and made[0]["phases"] == {"extra-server": "Healthy"}
        )

    return check


async def test_a_burst_of_events_writes_the_status_once_and_tells_each_change_once(
    tmp_path: Path,
) -> None:
    every = gpu_source()
    del every["spec"]["resourceSelectors"][0]["name"]  # every ConfigMap of monitoring
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        for name in GPUS:
            utilization(workload, "50", name)
        h.mgmt.apply(every, field_manager="test")
        h.mgmt.apply(
            trigger("scale-up", "gpu-utilization-high", addons=[FIXED_ADDON]),
            field_manager="test",
        )
        await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "Evaluated")
        await h.settle()
        mark = h.mgmt.writes.mark()

        for name in GPUS:  # one after the other, each seen by a reconcile of its own
            utilization(workload, "95", name)
            await asyncio.sleep(0.02)
        await h.wait_bundle("scale-up-c1", is_ready)
        got = await wait_trigger(h, "scale-up", settled_on(GPUS))
        await h.settle()
        assert sorted(e["message"] for e in events_of(h, "Matched")) == sorted(
            f"ConfigMap monitoring/{name} on c1: GPU utilization 95% is above 80%" for name in GPUS
        )
        assert events_of(h, "Unmatched") == []
        ready = got["status"]["conditions"][0]
        assert (ready["reason"], ready["message"]) == (
            "Evaluated",
            "10 matching object(s) on 1 cluster(s)",
        )
        assert 1 <= status_writes(h, mark) <= 2, h.mgmt.writes.filter(
            since=mark, kind="EventTrigger"
        )

        mark = h.mgmt.writes.mark()
        for name in GPUS[:3]:
            utilization(workload, "10", name)
            await asyncio.sleep(0.02)
        got = await wait_trigger(h, "scale-up", settled_on(GPUS[3:]))
        await h.settle()
        assert sorted(e["message"] for e in events_of(h, "Unmatched")) == [
            f"ConfigMap monitoring/{name} on c1" for name in GPUS[:3]
        ]
        assert len(events_of(h, "Matched")) == len(GPUS)
        assert got["status"]["conditions"][0]["message"] == "7 matching object(s) on 1 cluster(s)"
        assert workload.find("v1", "ConfigMap", "extra-server", "serving") is not None
        assert 1 <= status_writes(h, mark) <= 2, h.mgmt.writes.filter(
            since=mark, kind="EventTrigger"
        )
