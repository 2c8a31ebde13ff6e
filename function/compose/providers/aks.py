"""The AKS family: an AKS cluster through the upbound Azure provider
(provider-azure-containerservice).

Two managed resources, in the order they come up (``capi-gpu.md`` §2, §7; ``crossplane.md``
§9): a ``KubernetesCluster`` in ``spec.aks.resourceGroup`` with a system-assigned identity and
its system pool as the default node pool, whose connection Secret ``<name>-kubeconfig`` holds
the kubeconfig (key ``kubeconfig``), and the GPU ``KubernetesClusterNodePool`` (pool name
``gpu`` in Azure): the VM size the catalog's cloud table (`function.catalog.clouds`) gives the
pool's product and GPUs per node (``Standard_ND96isr_H100_v5`` for eight H100), the taint
``nvidia.com/gpu=present:NoSchedule``, and the autoscaler between the pool's size (at least
``gpu.minNodes``) and ``gpu.maxNodes``, its initial node count only at creation. Spot pools
carry the taint AKS puts on spot nodes, so the provider sees no drift.

Driver ownership (``aks.gpuDriver``): by default AKS installs no driver (``gpuDriver: None``)
and the GPU operator installs driver and toolkit; with ``cloud``, AKS installs both
(``Install``) and the operator neither.

Namespaced ``containerservice.azure.m.upbound.io/v1beta1`` by default; with the Input's
``cloudGroups: legacy``, cluster-scoped ``containerservice.azure.upbound.io/v1beta2``. The control
plane accepts requests once the ``KubernetesCluster`` is ready; the cluster is available once
the GPU pool is too. A `function.compose.providers.family.ProviderFamily`.
"""

from __future__ import annotations

from typing import Any

from function.compose import naming
from function.compose.providers import managed
from function.compose.providers.family import (
    ClusterRequest,
    cluster_labels,
)
from function.model.clouds import AksSpec, GpuDriver
from function.model.xr import Environment, Provider

GROUP = "containerservice.azure.upbound.io"
GPU_NODE_POOL = "node-pool-gpu"
ORDER = (naming.CLUSTER_RESOURCE, GPU_NODE_POOL)
CONTROL_PLANE = (naming.CLUSTER_RESOURCE,)

EXTERNAL_NAME = "crossplane.io/external-name"
GPU_POOL_NAME = "gpu"
"""The pool's name in Azure (lowercase letters and digits, at most 12)."""
SYSTEM_POOL_NAME = "system"
GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
DRIVER = {GpuDriver.CLOUD: "Install", GpuDriver.OPERATOR: "None"}


def _api(request: ClusterRequest) -> str:
    return managed.api_version(GROUP, request.settings.cloud_groups, "v1beta1", "v1beta2")


def _aks(request: ClusterRequest) -> AksSpec:
    if request.spec.aks is None:  # the spec validator requires aks with provider: aks
        raise ValueError("spec.aks is required")
    return request.spec.aks


def compose_resources(request: ClusterRequest) -> dict[str, dict[str, Any]]:
    """The KubernetesCluster and the GPU node pool by composition resource name."""
    spec, aks, pool = request.spec, _aks(request), request.pool
    gpu = managed.gpu_machine(request, Provider.AKS)
    cluster = {
        "apiVersion": _api(request),
        "kind": "KubernetesCluster",
        "metadata": managed.metadata(
            request, request.name, cluster_labels(request, Provider.AKS.value)
        ),
        "spec": {
            "forProvider": {
                "location": spec.region,
                "resourceGroupName": aks.resource_group,
                "dnsPrefix": request.name,
                "kubernetesVersion": spec.kubernetes_minor,
                "skuTier": "Standard" if spec.environment is Environment.PROD else "Free",
                "identity": {"type": "SystemAssigned"},
                "defaultNodePool": {
                    "name": SYSTEM_POOL_NAME,
                    "vmSize": aks.system_vm_size,
                    "nodeCount": aks.system_nodes,
                },
            },
            "writeConnectionSecretToRef": managed.connection_secret(
                request, naming.kubeconfig_secret(request.name)
            ),
        },
    }
    for_pool: dict[str, Any] = {
        "kubernetesClusterIdRef": {"name": request.name},
        "vmSize": gpu.name,
        "mode": "User",
        "orchestratorVersion": spec.kubernetes_minor,
        "autoScalingEnabled": True,
        "minCount": pool.nodes,
        "maxCount": max(pool.max_nodes, pool.nodes),
        "gpuDriver": DRIVER[aks.gpu_driver],
        "nodeLabels": {
            naming.LABEL_CLUSTER: request.name,
            naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
        },
        "nodeTaints": [GPU_TAINT],
    }
    if aks.spot:
        for_pool |= {"priority": "Spot", "evictionPolicy": "Delete", "spotMaxPrice": -1}
        for_pool["nodeTaints"] = [GPU_TAINT, SPOT_TAINT]
    metadata = managed.metadata(
        request, f"{request.name}-gpu", {naming.LABEL_CLUSTER: request.name}
    )
    metadata["annotations"] = {EXTERNAL_NAME: GPU_POOL_NAME}
    gpu_pool = {
        "apiVersion": _api(request),
        "kind": "KubernetesClusterNodePool",
        "metadata": metadata,
        "spec": {
            "forProvider": for_pool,
            # Only at creation: the cluster-autoscaler owns the node count afterwards.
            "initProvider": {"nodeCount": pool.nodes},
        },
    }
    return {naming.CLUSTER_RESOURCE: cluster, GPU_NODE_POOL: gpu_pool}


class AksFamily(managed.ManagedFamily):
    """AKS through the upbound Azure provider."""

    order = ORDER
    control_plane = CONTROL_PLANE
    compose_resources = staticmethod(compose_resources)

    def gpu_operator_values(self, request: ClusterRequest) -> dict[str, Any]:
        """With AKS's driver, the operator installs neither driver nor toolkit."""
        aks = request.spec.aks
        if aks is not None and aks.gpu_driver is GpuDriver.CLOUD:
            return {"driver": {"enabled": False}, "toolkit": {"enabled": False}}
        return {}
