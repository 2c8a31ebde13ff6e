"""The Cluster API `Cluster` of an inference cluster, as a ClusterClass topology.

The ClusterClass named in ``spec.capi.clusterClass`` must offer two MachineDeployment classes,
``cpu-worker`` and ``gpu-worker``, and the variables ``region``, ``environment``,
``gpuProduct`` and ``gpusPerNode`` (its patches map them to flavors, instance types or host
selectors). A GPU pool that may grow (``maxNodes`` above the nodes the models need) is the
cluster-autoscaler's: it carries the node-group bounds (the minimum is the nodes the models
need) and no ``replicas``, as Cluster API's autoscaling guide asks of managed topologies, so
neither the topology controller nor Crossplane's re-apply undoes a scale-up; Cluster API
defaults a new MachineDeployment's replicas to the minimum. A pool that cannot grow sets
``replicas`` and no bounds. Either way the scale-from-zero capacity annotations describe the
pool's machines (the autoscaler ignores them on a pool without bounds). The v1beta2 shape
(``classRef``) is the default; the Input's ``capiApiVersion: v1beta1`` emits ``class``
instead. `function.compose.sizing` provides the pool size; `function.compose.readiness`
reads the observed object back.
"""

from __future__ import annotations

from typing import Any

from function.compose import naming
from function.compose.sizing import PoolSize
from function.model.input import CapiApiVersion
from function.model.xr import AIInferenceClusterSpec, CapiSpec, Environment

GROUP = "cluster.x-k8s.io"
KIND = "Cluster"
CPU_WORKER_CLASS = "cpu-worker"
GPU_WORKER_CLASS = "gpu-worker"
GPU_RESOURCE = "nvidia.com/gpu"

AUTOSCALER_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
CAPACITY_GPU_COUNT = "capacity.cluster-autoscaler.kubernetes.io/gpu-count"
CAPACITY_GPU_TYPE = "capacity.cluster-autoscaler.kubernetes.io/gpu-type"
CAPACITY_LABELS = "capacity.cluster-autoscaler.kubernetes.io/labels"
NODE_GPU_PRODUCT_LABEL = "node.cluster.x-k8s.io/gpu-product"
"""A Machine label in the ``node.cluster.x-k8s.io`` domain, which Cluster API syncs to Nodes."""


def api_version(version: CapiApiVersion) -> str:
    """``cluster.x-k8s.io/<version>``."""
    return f"{GROUP}/{version}"


def cluster_labels(
    spec: AIInferenceClusterSpec, pool: PoolSize, tenant: str, capi: CapiSpec
) -> dict[str, str]:
    """Labels fleet policies select clusters by; the XR's own labels come first."""
    return {
        **spec.labels,
        naming.LABEL_ENVIRONMENT: spec.environment.value,
        naming.LABEL_REGION: spec.region,
        naming.LABEL_TENANT: tenant,
        naming.LABEL_INFRASTRUCTURE: capi.infrastructure.value,
        naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
        naming.LABEL_GPU_COUNT: str(pool.total_gpus),
        naming.LABEL_GPU_MEMORY: str(pool.gpu.memory_mib),
    }


def compose_cluster(
    name: str,
    namespace: str,
    spec: AIInferenceClusterSpec,
    pool: PoolSize,
    version: CapiApiVersion,
) -> dict[str, Any]:
    """The desired `Cluster` object."""
    capi = _capi(spec)
    class_ref: dict[str, Any] = (
        {"classRef": {"name": capi.cluster_class}}
        if version is CapiApiVersion.V1BETA2
        else {"class": capi.cluster_class}
    )
    return {
        "apiVersion": api_version(version),
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": cluster_labels(spec, pool, namespace, capi),
        },
        "spec": {
            "topology": {
                **class_ref,
                "version": spec.kubernetes_release,
                "controlPlane": {"replicas": _control_plane_replicas(spec, capi)},
                "workers": {
                    "machineDeployments": [
                        {"class": CPU_WORKER_CLASS, "name": "cpu", "replicas": capi.cpu_workers},
                        _gpu_pool(pool),
                    ]
                },
                "variables": [
                    {"name": "region", "value": spec.region},
                    {"name": "environment", "value": spec.environment.value},
                ],
            }
        },
    }


def _capi(spec: AIInferenceClusterSpec) -> CapiSpec:
    if spec.capi is None:  # the spec validator requires capi with provider: capi
        raise ValueError("spec.capi is required")
    return spec.capi


def _control_plane_replicas(spec: AIInferenceClusterSpec, capi: CapiSpec) -> int:
    if capi.control_plane_replicas is not None:
        return capi.control_plane_replicas
    return 1 if spec.environment is Environment.DEV else 3


def _gpu_pool(pool: PoolSize) -> dict[str, Any]:
    annotations = {
        CAPACITY_GPU_TYPE: GPU_RESOURCE,
        CAPACITY_GPU_COUNT: str(pool.allocatable_per_node),
        CAPACITY_LABELS: ",".join(f"{k}={v}" for k, v in pool.node_labels.items()),
    }
    deployment: dict[str, Any] = {
        "class": GPU_WORKER_CLASS,
        "name": "gpu",
        "metadata": {
            "labels": {NODE_GPU_PRODUCT_LABEL: pool.gpu.product.value},
            "annotations": annotations,
        },
        "variables": {
            "overrides": [
                {"name": "gpuProduct", "value": pool.gpu.product.value},
                {"name": "gpusPerNode", "value": pool.per_node},
            ]
        },
    }
    if pool.max_nodes > pool.nodes:
        annotations[AUTOSCALER_MIN] = str(pool.nodes)
        annotations[AUTOSCALER_MAX] = str(pool.max_nodes)
    else:
        deployment["replicas"] = pool.nodes
    return deployment
