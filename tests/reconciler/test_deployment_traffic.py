"""``idleAfter`` from the traffic the serving side reports on its cluster, on the emulator.

The serving side keeps a ConfigMap labelled ``aifleet.io/traffic: <model>`` on the workload
cluster with the time of the last request. The controller watches such ConfigMaps on the
clusters the deployment is placed on: a new time moves the expiry at once (the watch queues
the deployment; the harness's resync is an hour away), and once the model has been idle for
``idleAfter`` it is withdrawn and the watch stops.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from function.reconciler.keys import TriggerKey
from tests.reconciler.harness import NAMESPACE, eventually, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    XR_API,
    Clock,
    add_cluster,
    deployment,
    phase,
    placed_on,
    wait_deployment,
)


def traffic(at: str) -> dict[str, object]:
    """The serving side's traffic ConfigMap for llama-8b."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "llama-8b-traffic",
            "namespace": "vllm",
            "labels": {"aifleet.io/traffic": "llama-8b"},
        },
        "data": {"lastTraffic": at},
    }


async def test_idle_after_counts_from_the_traffic_its_cluster_reports(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, placement=OFFLINE, clock=clock) as h:
        workload = await add_cluster(h, "eu-l40s", "eu-west-1", "NVIDIA-L40S", 4)
        h.mgmt.create(deployment("llama-8b", "8B", idleAfter="10m"))
        served = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(served) == [f"{NAMESPACE}/eu-l40s"]
        created = served["status"]["expiresAt"]
        controller = h.app.deployments  # type: ignore[union-attr]
        watched = [str(k) for k in controller.traffic.watches.active()]
        assert watched == [f"ConfigMap.v1 (aifleet.io/traffic) on Cluster {NAMESPACE}/eu-l40s"]

        # Six minutes in, the serving side reports traffic: the expiry moves without a resync.
        clock.advance(6 * 60)
        seen = clock.now().replace(microsecond=0)
        workload.create(traffic(clock()), field_manager="serving")
        later = (seen + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        moved = await wait_deployment(
            h, "llama-8b", lambda d: d["status"].get("expiresAt") == later, within=10
        )
        assert later > created and phase(moved) == "Serving"

        # Twelve minutes since creation, six since traffic: still served.
        clock.advance(6 * 60)
        key = TriggerKey(NAMESPACE, "llama-8b")
        controller.queue.add(key)
        await h.settle()
        assert phase(h.mgmt.get(XR_API, "AIModelDeployment", "llama-8b", NAMESPACE)) == "Serving"

        # More traffic now, then eleven minutes without: the model is withdrawn.
        last = clock.now().replace(microsecond=0)
        workload.patch(
            "v1", "ConfigMap", "llama-8b-traffic", {"data": {"lastTraffic": clock()}},
            namespace="vllm", field_manager="serving",
        )  # fmt: skip
        until = (last + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await wait_deployment(
            h, "llama-8b", lambda d: d["status"].get("expiresAt") == until, within=10
        )
        clock.advance(11 * 60)
        controller.queue.add(key)
        expired = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Expired")
        assert expired["status"]["message"] == (
            f"expired at {until} (idleAfter 10m without traffic): model withdrawn"
        )
        await eventually(
            lambda: controller.traffic.watches.active() == [],
            within=5,
            what="the traffic watch stopped",
        )
