"""Deployments competing for one cluster's GPUs, on the emulator: freed GPUs go to who waits.

One cluster of eight H100s; each deployment (a 70B model, two replicas of four GPUs) takes all
of them. A second one waits, refused with the reason; when the first expires, or is deleted,
the waiting one is placed at once: the controller looks again when a deployment gives GPUs
back, without waiting for a pod change or a resync (the harness's resync is an hour away).
The serving stack stays in the cluster's own bundle through every handover, and goes with the
last placement.
"""

from __future__ import annotations

import time
from pathlib import Path

from function.reconciler.keys import TriggerKey
from tests.reconciler.harness import BUNDLE_API, NAMESPACE, eventually, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    XR_API,
    Clock,
    add_cluster,
    deployment,
    phase,
    placed_on,
    reasons,
    wait_deployment,
)

H100 = {"gpuProducts": ["H100-80GB"]}
CLUSTER = f"{NAMESPACE}/eu-h100"
STACK = "eu-h100-vllm-serving"


def bundles(h: object) -> list[str]:
    """Names of the AddonBundles of the namespace."""
    return sorted(
        b["metadata"]["name"]
        for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE)  # type: ignore[attr-defined]
    )


async def test_gpus_freed_by_an_expired_or_deleted_deployment_go_to_the_one_waiting(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(tmp_path, placement=OFFLINE, clock=clock) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        h.mgmt.create(deployment("first", "70B", replicas=2, placement=H100, ttl="1h"))
        first = await wait_deployment(h, "first", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(first) == [CLUSTER] and first["status"]["gpusHeld"] == 8
        assert bundles(h) == [STACK, "first-on-eu-h100"]
        stack = h.mgmt.get(BUNDLE_API, "AddonBundle", STACK, NAMESPACE)
        assert [a["name"] for a in stack["spec"]["addons"]] == ["vllm-stack"]
        model = h.mgmt.get(BUNDLE_API, "AddonBundle", "first-on-eu-h100", NAMESPACE)
        assert [a["name"] for a in model["spec"]["addons"]] == ["model-first"]

        h.mgmt.create(deployment("second", "70B", replicas=2, placement=H100))
        waiting = await wait_deployment(h, "second", lambda d: phase(d) == "Pending")
        assert reasons(waiting)[CLUSTER] == "no H100-80GB free"

        # The first one's ttl runs out; only it is looked at (no resync of the others).
        clock.advance(3600 + 1)
        h.app.deployments.queue.add(TriggerKey(NAMESPACE, "first"))  # type: ignore[union-attr]
        started = time.monotonic()
        second = await wait_deployment(h, "second", lambda d: placed_on(d) == [CLUSTER], within=5)
        assert time.monotonic() - started < 5
        assert phase(h.mgmt.get(XR_API, "AIModelDeployment", "first", NAMESPACE)) == "Expired"
        assert second["status"]["placements"][0]["replicas"] == 2
        second = await wait_deployment(h, "second", lambda d: phase(d) == "Serving", within=30)
        assert second["status"]["gpusHeld"] == 8

        h.mgmt.create(deployment("third", "70B", replicas=2, placement=H100))
        waiting = await wait_deployment(h, "third", lambda d: phase(d) == "Pending")
        assert reasons(waiting)[CLUSTER] == "no H100-80GB free"

        # Deleting the second one frees the GPUs for the third.
        h.mgmt.delete(XR_API, "AIModelDeployment", "second", NAMESPACE)
        third = await wait_deployment(h, "third", lambda d: placed_on(d) == [CLUSTER], within=5)
        assert third["status"]["gpusHeld"] == 8
        third = await wait_deployment(h, "third", lambda d: phase(d) == "Serving", within=30)
        assert bundles(h) == [STACK, "third-on-eu-h100"]
        # The same stack bundle served all three: never deleted on the way.
        kept = h.mgmt.get(BUNDLE_API, "AddonBundle", STACK, NAMESPACE)
        assert kept["metadata"]["uid"] == stack["metadata"]["uid"]
        assert third["status"]["conditions"][1]["message"] == "1 of 1 cluster(s) serving"

        # The last placement leaves: its stack goes with it.
        h.mgmt.delete(XR_API, "AIModelDeployment", "third", NAMESPACE)
        await eventually(lambda: bundles(h) == [], within=10, what="every bundle withdrawn")
