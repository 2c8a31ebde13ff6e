"""The placement controller on the emulator: AIModelDeployments placed on a live GPU fleet.

Five Cluster API clusters with different GPUs; capacity comes from watches of their Nodes and
Pods. Deployments land where they fit, their GPUs are no longer offered to the next one, and
the model add-on they bring becomes healthy once the cluster's GPUs are allocatable.
"""

from __future__ import annotations

from pathlib import Path

from tests.reconciler.harness import BUNDLE_API, NAMESPACE, addon_phases, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    add_cluster,
    deployment,
    phase,
    placed_on,
    reasons,
    wait_deployment,
)

FLEET = {
    # name: (region, GFD product label, GPUs per node, nodes)
    "eu-h100": ("eu-west-1", "NVIDIA-H100-80GB-HBM3", 8, 1),
    "eu-l40s": ("eu-west-1", "NVIDIA-L40S", 4, 1),
    "us-a100": ("us-east-1", "NVIDIA-A100-SXM4-80GB", 8, 1),
    "edge-l4": ("eu-central-1", "NVIDIA-L4", 1, 2),
    "ap-h200": ("ap-south-1", "NVIDIA-H200", 8, 1),
}


async def test_three_deployments_land_where_they_fit_and_take_their_gpus(tmp_path: Path) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        for name, (region, product, gpus, nodes) in FLEET.items():
            await add_cluster(h, name, region, product, gpus, nodes)
        # 70B fp16 needs 4 H100s per replica; two replicas fill the H100 cluster.
        h.mgmt.create(
            deployment("llama-70b", "70B", replicas=2, placement={"gpuProducts": ["H100-80GB"]})
        )
        big = await wait_deployment(h, "llama-70b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(big) == [f"{NAMESPACE}/eu-h100"]
        assert big["status"]["gpusHeld"] == 8
        assert big["status"]["endpoint"].startswith("http://model-llama-70b-llama-70b-engine")
        bundle = h.bundle("llama-70b-on-eu-h100")
        assert addon_phases(bundle) == {"model-llama-70b": "Healthy"}
        # The serving stack comes in the cluster's own bundle, healthy before the model counts.
        assert addon_phases(h.bundle("eu-h100-vllm-serving")) == {"vllm-stack": "Healthy"}

        # The H100s are taken: a second H100 deployment is refused there with the reason.
        h.mgmt.create(deployment("mixtral", "47B", placement={"gpuProducts": ["H100-80GB"]}))
        waiting = await wait_deployment(h, "mixtral", lambda d: phase(d) == "Pending")
        assert placed_on(waiting) == []
        assert reasons(waiting)[f"{NAMESPACE}/eu-h100"] == "no H100-80GB free"

        # A small model in Europe, cheapest first: one L4 of the edge cluster.
        h.mgmt.create(
            deployment(
                "llama-8b", "8B", precision="fp8",
                placement={"regions": ["eu-west-1", "eu-central-1"]},
            )
        )  # fmt: skip
        small = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(small) == [f"{NAMESPACE}/edge-l4"]
        assert "region us-east-1 not allowed" in reasons(small)[f"{NAMESPACE}/us-a100"]
        bundles = sorted(
            b["metadata"]["name"] for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE)
        )
        assert bundles == [
            "edge-l4-vllm-serving",
            "eu-h100-vllm-serving",
            "llama-70b-on-eu-h100",
            "llama-8b-on-edge-l4",
        ]
