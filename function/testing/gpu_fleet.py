"""Existing GPU clusters for a fleet: Nodes the emulated GPU operator makes allocatable.

`add_gpu_cluster` adds a cluster to a `Fleet` with a ready ``ClusterPolicy`` and GPU Nodes
annotated for the ``gpu-device-plugin`` simulation rule, and waits until every Node carries
GPU feature discovery labels and allocatable ``nvidia.com/gpu``, as a real cluster with the
GPU operator would. Placement tests, benchmarks and the demo build their fleets with it;
clusters provisioned through Cluster API get their GPU Nodes from `simulation.capi` instead.
"""

from __future__ import annotations

from function.testing.cluster import EmulatedCluster
from function.testing.crds import install_gpu_operator_crds
from function.testing.fleet import Fleet
from function.testing.simulation.extensions import GPU_COUNT, GPU_PRODUCT


def add_gpu_cluster(
    fleet: Fleet, name: str, product_label: str, gpus_per_node: int, nodes: int = 1
) -> EmulatedCluster:
    """A cluster with one CPU node and ``nodes`` GPU nodes ``gpu-0``… of one product."""
    cluster = fleet.add_cluster(name)
    install_gpu_operator_crds(cluster)
    cluster.create(
        {
            "apiVersion": "nvidia.com/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "cluster-policy"},
            "spec": {},
        }
    )
    cluster.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cpu-0"}})
    for i in range(nodes):
        annotations = {GPU_COUNT: str(gpus_per_node), GPU_PRODUCT: product_label}
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"gpu-{i}", "annotations": annotations},
            }
        )
        cluster.wait_for(
            "v1",
            "Node",
            f"gpu-{i}",
            until=lambda n: "nvidia.com/gpu" in (n.get("status") or {}).get("allocatable", {}),
        )
    return cluster
