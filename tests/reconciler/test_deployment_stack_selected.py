"""A serving stack brought fleet-wide by a bundle with a ``clusterSelector``, on the emulator.

Platform teams install a serving stack on every cluster with a label through one bundle
selecting them. On a cluster it selects, the placement controller writes no stack bundle of
its own (it would only contend for the same charts' objects): the model is served on the
selector bundle's stack, with no conflict anywhere. Once the cluster's labels no longer match,
the selector bundle withdraws its stack from there and the controller's stack bundle is
applied in its place; so it is when the selector bundle arrives on a cluster the controller's
stack bundle serves (that one goes), and when it stops bringing the stack (it comes back).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from function.model.xr import Runtime
from function.placement.delivery import stack_addons
from tests.reconciler.harness import (
    BUNDLE_API,
    CAPI,
    NAMESPACE,
    Harness,
    addon_phases,
    bundle,
    configmap_addon,
    eventually,
    running,
)
from tests.reconciler.placement_harness import (
    OFFLINE,
    add_cluster,
    deployment,
    phase,
    placed_on,
    wait_deployment,
)

LABEL = "platform.example/serving"
STACK = "eu-h100-vllm-serving"


def fleet_stack() -> dict[str, Any]:
    """The platform team's bundle: the vLLM stack on every cluster labelled for serving."""
    addons = [a.to_manifest() for a in stack_addons(Runtime.VLLM, OFFLINE.catalog)]
    doc = bundle("fleet-vllm", addons, clusterSelector={"matchLabels": {LABEL: "vllm"}})
    del doc["spec"]["clusterRef"]
    return doc


def bundles(h: Harness) -> list[str]:
    return sorted(b["metadata"]["name"] for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE))


def conflicts(h: Harness) -> list[str]:
    """Every conflict any bundle of the namespace reports, as ``bundle/add-on``."""
    return [
        f"{b['metadata']['name']}/{a['name']}"
        for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE)
        for c in (b.get("status") or {}).get("clusters") or []
        for a in c.get("addons") or []
        if a.get("conflicts") or "conflict" in (a.get("message") or "")
    ]


def relabel(h: Harness, value: str | None) -> None:
    h.mgmt.patch(
        CAPI, "Cluster", "eu-h100", {"metadata": {"labels": {LABEL: value}}}, namespace=NAMESPACE
    )


async def test_a_selector_bundle_brings_the_stack_until_the_cluster_leaves_its_selector(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        relabel(h, "vllm")
        h.mgmt.create(fleet_stack())
        await eventually(
            lambda: addon_phases(h.bundle("fleet-vllm")) == {"vllm-stack": "Healthy"},
            within=20,
            what="the fleet-wide stack healthy on eu-h100",
        )

        h.mgmt.create(deployment("llama-8b", "8B", precision="fp8"))
        served = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(served) == [f"{NAMESPACE}/eu-h100"]
        assert bundles(h) == ["fleet-vllm", "llama-8b-on-eu-h100"]
        assert conflicts(h) == []

        # The cluster leaves the selector: the stack comes in the cluster's own bundle.
        relabel(h, None)
        await eventually(
            lambda: (
                STACK in bundles(h) and addon_phases(h.bundle(STACK)) == {"vllm-stack": "Healthy"}
            ),
            within=30,
            what="the placement controller's stack bundle healthy on eu-h100",
            last=bundles(h),
        )
        assert (h.bundle("fleet-vllm").get("status") or {}).get("clusters") in (None, [])
        await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert bundles(h) == ["eu-h100-vllm-serving", "fleet-vllm", "llama-8b-on-eu-h100"]
        assert conflicts(h) == []


async def test_a_selector_bundle_arriving_takes_the_stack_over_from_the_stack_bundle(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        h.mgmt.create(deployment("llama-8b", "8B", precision="fp8"))
        await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert bundles(h) == ["eu-h100-vllm-serving", "llama-8b-on-eu-h100"]

        # The cluster is labelled, then the fleet-wide stack arrives: the stack bundle goes,
        # the fleet-wide one takes its objects over, nothing is left in conflict.
        relabel(h, "vllm")
        await asyncio.sleep(0.5)  # the relabel seen alone: no selector matches it yet
        assert bundles(h) == ["eu-h100-vllm-serving", "llama-8b-on-eu-h100"]
        h.mgmt.create(fleet_stack())
        await eventually(
            lambda: (
                STACK not in bundles(h)
                and addon_phases(h.bundle("fleet-vllm")) == {"vllm-stack": "Healthy"}
            ),
            within=30,
            what="the fleet-wide stack healthy on eu-h100 in place of the stack bundle",
            last=bundles(h),
        )
        await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert bundles(h) == ["fleet-vllm", "llama-8b-on-eu-h100"]
        assert conflicts(h) == []

        # The fleet-wide bundle stops bringing the stack: the stack bundle is applied again.
        h.mgmt.patch(
            BUNDLE_API,
            "AddonBundle",
            "fleet-vllm",
            {"spec": {"addons": [configmap_addon("motd")]}},
            namespace=NAMESPACE,
        )
        await eventually(
            lambda: (
                STACK in bundles(h) and addon_phases(h.bundle(STACK)) == {"vllm-stack": "Healthy"}
            ),
            within=30,
            what="the stack bundle healthy on eu-h100 again",
            last=bundles(h),
        )
        await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert conflicts(h) == []
