"""Placement on capacity read from emulated workload clusters over the real client.

Five clusters with different GPUs; the emulator's GPU operator and device plugin simulation
labels their Nodes and makes GPUs allocatable, as GFD and the device plugin would. Three
deployments are placed where they fit, each one's GPUs reserved for the next; GPUs taken by
running pods are no longer offered.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.model.deployment import parse_deployment_spec
from function.placement.decide import place, reservations_of
from function.reconciler.capacity import FleetMember, read_cluster_capacity, read_fleet
from function.testing import EmulatedCluster, Fleet, add_gpu_cluster

CLUSTERS = {
    # name: (region, GFD product label, GPUs per node, nodes)
    "eu-h100": ("eu-west-1", "NVIDIA-H100-80GB-HBM3", 8, 1),
    "eu-l40s": ("eu-west-1", "NVIDIA-L40S", 4, 2),
    "us-a100": ("us-east-1", "NVIDIA-A100-SXM4-80GB", 8, 1),
    "edge-l4": ("eu-central-1", "NVIDIA-L4", 1, 2),
    "ap-h200": ("ap-south-1", "NVIDIA-H200", 8, 1),
}


def gpu_cluster(fleet: Fleet, name: str) -> EmulatedCluster:
    _, product, gpus, count = CLUSTERS[name]
    return add_gpu_cluster(fleet, name, product, gpus, count)


def gpu_pod(name: str, node: str, gpus: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "engine",
                    "image": "vllm/vllm-openai",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def deployment(parameters: str, precision: str = "fp16", **fields: Any) -> Any:
    model = {"name": "m", "parameters": parameters, "precision": precision, "source": "hf://m"}
    return parse_deployment_spec({"model": model, **fields})


@pytest.fixture
def fleet() -> Any:
    with Fleet(simulation=True) as fleet:
        clusters = {name: gpu_cluster(fleet, name) for name in CLUSTERS}
        yield fleet, clusters


async def test_deployments_land_where_they_fit_and_consumed_gpus_are_not_offered(
    fleet: Any,
) -> None:
    _, clusters = fleet
    adapters = {
        name: ApiAdapter(configuration_from_kubeconfig(c.kubeconfig()))
        for name, c in clusters.items()
    }
    try:
        members = [
            FleetMember(f"fleet/{name}", adapters[name], {"aifleet.io/region": CLUSTERS[name][0]})
            for name in CLUSTERS
        ]
        capacity = await read_fleet(members)
        by_name = capacity.by_name()
        assert [(n.name, n.allocatable, n.product) for n in by_name["fleet/eu-l40s"].nodes] == [
            ("gpu-0", 4, "L40S"),
            ("gpu-1", 4, "L40S"),
        ]
        assert by_name["fleet/eu-h100"].nodes[0].memory_mib == 81559  # from the GFD label

        big = deployment("70B", placement={"gpuProducts": ["H100-80GB", "H200-141GB"]},
                         preferences={"regions": ["eu-west-1"]})  # fmt: skip
        europe = deployment("70B", placement={"regions": ["eu-west-1", "us-east-1"]}, replicas=2)
        edge = deployment("8B", precision="fp8", placement={"regions": ["eu-central-1"]})
        decisions = {}
        for name, spec in (("team/big", big), ("team/europe", europe), ("team/edge", edge)):
            decision = place(name, spec, capacity)
            decisions[name] = {a.cluster: a.replicas for a in decision.assignments}
            capacity = replace(
                capacity, reservations=capacity.reservations + reservations_of(name, decision)
            )
        assert decisions == {
            "team/big": {"fleet/eu-h100": 1},
            "team/europe": {"fleet/eu-l40s": 2},
            "team/edge": {"fleet/edge-l4": 1},
        }

        # GPUs taken by a running pod are no longer offered once the cluster is read again
        clusters["eu-h100"].create(gpu_pod("other-team", "gpu-0", 6))
        h100 = await read_cluster_capacity(members[0])
        assert (h100.nodes[0].requested, h100.free) == (6, 2)
        again = place("team/big2", big, replace(capacity, clusters=(h100,), reservations=()))
        reason = {v.cluster: v.reason for v in again.verdicts}["fleet/eu-h100"]
        assert reason == "needs 4 H100-80GB GPUs on one node, largest free is 2"
    finally:
        for adapter in adapters.values():
            await adapter.close()
