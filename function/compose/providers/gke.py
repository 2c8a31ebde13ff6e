"""The GKE family: a GKE cluster through the upbound Google Cloud provider (provider-gcp-container).

Three managed resources, in the order they come up (``capi-gpu.md`` §2, §7; ``crossplane.md``
§9): a regional ``Cluster`` without its default node pool, whose connection Secret
``<name>-kubeconfig`` holds the kubeconfig (key ``kubeconfig``, built from the master's client
certificate, so the cluster issues one); a CPU ``NodePool`` and the GPU ``NodePool`` in
``spec.gke.zone``. The GPU pool's machine type and ``guestAccelerator`` type come from the
catalog's cloud table (`function.catalog.clouds`; ``a3-highgpu-8g`` with eight
``nvidia-h100-80gb``), it is tainted ``nvidia.com/gpu=present:NoSchedule``, and it autoscales
between the pool's size (at least ``gpu.minNodes``) and ``gpu.maxNodes`` in total.

Driver ownership (``gke.gpuDriver``): by default GKE installs the driver on Container-Optimized
OS (``gpuDriverVersion: LATEST``) and the GPU operator runs with ``driver.enabled=false``, its
toolkit and host paths pointed at GKE's ``/home/kubernetes/bin/nvidia``, with CDI; with
``operator``, GKE installs none (``INSTALLATION_DISABLED``) on Ubuntu nodes and the operator
installs it. Either way the node label ``gke-no-default-nvidia-gpu-device-plugin=true`` leaves
the device plugin to the GPU operator, so time-slicing and MIG are configured in one place.

Namespaced ``container.gcp.m.upbound.io/v1beta1`` by default; with the Input's ``cloudGroups:
legacy``, cluster-scoped ``container.gcp.upbound.io/v1beta2``. The control plane accepts
requests once the ``Cluster`` is ready (its Secret is written then); the cluster is available
once both pools are too. A `function.compose.providers.family.ProviderFamily`.
"""

from __future__ import annotations

from typing import Any

from function.compose import naming
from function.compose.providers import managed
from function.compose.providers.family import (
    ClusterRequest,
    cluster_labels,
)
from function.errors import SpecError
from function.model.clouds import GkeSpec, GpuDriver
from function.model.xr import Environment, Provider

GROUP = "container.gcp.upbound.io"
CPU_NODE_POOL = "node-pool-cpu"
GPU_NODE_POOL = "node-pool-gpu"
ORDER = (naming.CLUSTER_RESOURCE, CPU_NODE_POOL, GPU_NODE_POOL)
CONTROL_PLANE = (naming.CLUSTER_RESOURCE,)

GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"
NO_GKE_DEVICE_PLUGIN = "gke-no-default-nvidia-gpu-device-plugin"
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
IMAGE_TYPES = {GpuDriver.CLOUD: "COS_CONTAINERD", GpuDriver.OPERATOR: "UBUNTU_CONTAINERD"}
DRIVER_VERSIONS = {GpuDriver.CLOUD: "LATEST", GpuDriver.OPERATOR: "INSTALLATION_DISABLED"}


def _api(request: ClusterRequest) -> str:
    return managed.api_version(GROUP, request.settings.cloud_groups, "v1beta1", "v1beta2")


def _gke(request: ClusterRequest) -> GkeSpec:
    gke = request.spec.gke
    if gke is None:  # the spec validator requires gke with provider: gke
        raise ValueError("spec.gke is required")
    if not gke.zone.startswith(f"{request.spec.region}-"):
        raise SpecError.at(
            "spec.gke.zone",
            f"zone {gke.zone!r} is not in region {request.spec.region!r}; "
            f"allowed: a zone {request.spec.region}-<letter>",
        )
    return gke


def compose_resources(request: ClusterRequest) -> dict[str, dict[str, Any]]:
    """The Cluster and both NodePools by composition resource name."""
    spec, gke, pool = request.spec, _gke(request), request.pool
    gpu = managed.gpu_machine(request, Provider.GKE)
    for_cluster: dict[str, Any] = {
        "location": spec.region,
        "network": gke.network,
        "minMasterVersion": spec.kubernetes_minor,
        "removeDefaultNodePool": True,
        "initialNodeCount": 1,
        "deletionProtection": spec.environment is Environment.PROD,
        "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": True}},
    }
    if gke.subnetwork:
        for_cluster["subnetwork"] = gke.subnetwork
    cluster = {
        "apiVersion": _api(request),
        "kind": "Cluster",
        "metadata": managed.metadata(
            request, request.name, cluster_labels(request, Provider.GKE.value)
        ),
        "spec": {
            "forProvider": for_cluster,
            "writeConnectionSecretToRef": managed.connection_secret(
                request, naming.kubeconfig_secret(request.name)
            ),
        },
    }
    cpu = _node_pool(
        request,
        "cpu",
        {"nodeCount": gke.cpu_nodes},
        {"machineType": gke.cpu_machine_type, "labels": {naming.LABEL_CLUSTER: request.name}},
    )
    gpu_pool = _node_pool(
        request,
        "gpu",
        {
            "initialNodeCount": pool.nodes,
            "autoscaling": {
                "totalMinNodeCount": pool.nodes,
                "totalMaxNodeCount": max(pool.max_nodes, pool.nodes),
                "locationPolicy": "ANY",
            },
        },
        {
            "machineType": gpu.name,
            "imageType": IMAGE_TYPES[gke.gpu_driver],
            "spot": gke.spot,
            "guestAccelerator": [
                {
                    "type": gpu.accelerator,
                    "count": gpu.gpus,
                    "gpuDriverInstallationConfig": {
                        "gpuDriverVersion": DRIVER_VERSIONS[gke.gpu_driver]
                    },
                }
            ],
            "labels": {
                naming.LABEL_CLUSTER: request.name,
                naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
                NO_GKE_DEVICE_PLUGIN: "true",
            },
            "taint": [dict(managed.GPU_TAINT)],
        },
    )
    return {naming.CLUSTER_RESOURCE: cluster, CPU_NODE_POOL: cpu, GPU_NODE_POOL: gpu_pool}


def _node_pool(
    request: ClusterRequest, pool: str, sizing: dict[str, Any], node_config: dict[str, Any]
) -> dict[str, Any]:
    gke = _gke(request)
    return {
        "apiVersion": _api(request),
        "kind": "NodePool",
        "metadata": managed.metadata(
            request, f"{request.name}-{pool}", {naming.LABEL_CLUSTER: request.name}
        ),
        "spec": {
            "forProvider": {
                "clusterRef": {"name": request.name},
                "location": request.spec.region,
                "nodeLocations": [gke.zone],
                **sizing,
                "nodeConfig": {**node_config, "oauthScopes": list(OAUTH_SCOPES)},
            },
        },
    }


class GkeFamily(managed.ManagedFamily):
    """GKE through the upbound Google Cloud provider."""

    order = ORDER
    control_plane = CONTROL_PLANE
    compose_resources = staticmethod(compose_resources)

    def gpu_operator_values(self, request: ClusterRequest) -> dict[str, Any]:
        """With GKE's driver: no driver, the toolkit and host paths on GKE's driver directory,
        CDI on; with the operator's driver: nothing the node image decides."""
        gke = request.spec.gke
        if gke is not None and gke.gpu_driver is GpuDriver.OPERATOR:
            return {}
        return {
            "driver": {"enabled": False},
            "toolkit": {"installDir": GKE_DRIVER_DIR},
            "hostPaths": {"driverInstallDir": GKE_DRIVER_DIR},
            "cdi": {"enabled": True, "default": True},
        }
