"""Existing GPU clusters for a fleet: Nodes the emulated GPU operator makes allocatable.

`add_gpu_cluster` adds a cluster to a `Fleet` with a ready ``ClusterPolicy`` and GPU Nodes
annotated for the ``gpu-device-plugin`` simulation rule, and waits until every Node carries
GPU feature discovery labels and allocatable ``nvidia.com/gpu``, as a real cluster with the
GPU operator would. Placement tests, benchmarks and the demo build their fleets with it;
clusters provisioned through Cluster API get their GPU Nodes from `simulation.capi` instead:
`capi_gpu_cluster` is such a Cluster, `equip` gives its workload cluster a ready GPU operator,
and `gpus_allocatable` says when the device plugin simulation has made its GPUs allocatable.
"""

from __future__ import annotations

from typing import Any

from function.testing.cluster import EmulatedCluster
from function.testing.crds import install_gpu_operator_crds
from function.testing.fleet import Fleet
from function.testing.simulation.extensions import GPU_COUNT, GPU_PRODUCT


def add_gpu_cluster(
    fleet: Fleet, name: str, product_label: str, gpus_per_node: int, nodes: int = 1
) -> EmulatedCluster:
    """A cluster with one CPU node and ``nodes`` GPU nodes ``gpu-0``… of one product."""
    cluster = fleet.add_cluster(name)
    equip(cluster)
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


AUTOSCALER = "capacity.cluster-autoscaler.kubernetes.io/"
CAPI_API_VERSION = "cluster.x-k8s.io/v1beta2"


def capi_gpu_cluster(
    name: str,
    namespace: str,
    labels: dict[str, str],
    product_label: str,
    gpus_per_node: int,
    nodes: int = 1,
) -> dict[str, Any]:
    """A Cluster API Cluster the simulation provisions, with one CPU node and ``nodes`` GPU
    nodes whose autoscaler annotations name the GPU count and product (`simulation.capi`)."""
    annotations = {
        AUTOSCALER + "gpu-count": str(gpus_per_node),
        AUTOSCALER + "gpu-type": "nvidia.com/gpu",
        AUTOSCALER + "labels": f"nvidia.com/gpu.product={product_label}",
    }
    gpu = {"class": "gpu-worker", "name": "gpu", "replicas": nodes}
    workers = [
        {"class": "cpu-worker", "name": "cpu", "replicas": 1},
        {**gpu, "metadata": {"annotations": annotations}},
    ]
    return {
        "apiVersion": CAPI_API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "topology": {
                "classRef": {"name": "gpu-cluster"},
                "version": "v1.33.0",
                "controlPlane": {"replicas": 1},
                "workers": {"machineDeployments": workers},
            }
        },
    }


def equip(cluster: EmulatedCluster) -> None:
    """A ready GPU operator: the device plugin simulation then equips the GPU Nodes."""
    install_gpu_operator_crds(cluster)
    cluster.create(
        {
            "apiVersion": "nvidia.com/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "cluster-policy"},
            "spec": {},
        }
    )


def gpus_allocatable(cluster: EmulatedCluster, nodes: int) -> bool:
    """Whether ``nodes`` GPU Nodes (``…-gpu-…``) exist and all have allocatable GPUs."""
    gpu_nodes = [n for n in cluster.list("v1", "Node") if "-gpu-" in n["metadata"]["name"]]
    return len(gpu_nodes) == nodes and all(
        "nvidia.com/gpu" in ((n.get("status") or {}).get("allocatable") or {}) for n in gpu_nodes
    )
