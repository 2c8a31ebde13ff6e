"""The EKS family: an EKS cluster through the upbound AWS provider (provider-aws-eks).

Four managed resources, in the order they come up (``capi-gpu.md`` §2, §7; ``crossplane.md``
§9): the ``Cluster`` (its IAM role and subnets from ``spec.eks``, the Kubernetes minor), a
``ClusterAuth`` that writes the kubeconfig (key ``kubeconfig``, a token refreshed every ten
minutes, so always re-read) to ``<name>-kubeconfig``, a CPU ``NodeGroup`` for system pods and
operators, and the GPU ``NodeGroup``: the instance type the catalog's cloud table
(`function.catalog.clouds`) gives the pool's product and GPUs per node, an EKS-optimized NVIDIA
AMI (AL2023 or Bottlerocket), the taint ``nvidia.com/gpu=present:NoSchedule``, and scaling from
the pool's size (at least ``gpu.minNodes``) to ``gpu.maxNodes``. The desired size is written
under ``initProvider`` only, so the cluster-autoscaler's scale-ups are not undone. Both AMIs
ship the driver and the container toolkit, so the GPU operator installs neither.

Namespaced ``eks.aws.m.upbound.io/v1beta1`` by default; with the Input's ``cloudGroups:
legacy``, cluster-scoped ``eks.aws.upbound.io`` (``v1beta2``, ``ClusterAuth`` ``v1beta1``).
The control plane accepts requests once the ``Cluster`` and the ``ClusterAuth`` are ready; the
cluster is available once both node groups are too. Schemas: the upstream CRDs under
``tests/schemas/``. A `function.compose.providers.family.ProviderFamily`.
"""

from __future__ import annotations

from typing import Any

from function.compose import naming
from function.compose.providers import managed
from function.compose.providers.family import (
    ClusterRequest,
    cluster_labels,
)
from function.model.clouds import CapacityType, EksNodeImage, EksSpec
from function.model.xr import Provider

GROUP = "eks.aws.upbound.io"
CLUSTER_AUTH = "cluster-auth"
CPU_NODE_GROUP = "node-group-cpu"
GPU_NODE_GROUP = "node-group-gpu"
ORDER = (naming.CLUSTER_RESOURCE, CLUSTER_AUTH, CPU_NODE_GROUP, GPU_NODE_GROUP)
CONTROL_PLANE = (naming.CLUSTER_RESOURCE, CLUSTER_AUTH)

AMI_TYPES = {
    EksNodeImage.AL2023: "AL2023_x86_64_NVIDIA",
    EksNodeImage.BOTTLEROCKET: "BOTTLEROCKET_x86_64_NVIDIA",
}
CPU_AMI_TYPE = "AL2023_x86_64_STANDARD"
CAPACITY_TYPES = {CapacityType.ON_DEMAND: "ON_DEMAND", CapacityType.SPOT: "SPOT"}


def _api(request: ClusterRequest, kind: str) -> str:
    legacy = "v1beta1" if kind == "ClusterAuth" else "v1beta2"
    return managed.api_version(GROUP, request.settings.cloud_groups, "v1beta1", legacy)


def _eks(request: ClusterRequest) -> EksSpec:
    if request.spec.eks is None:  # the spec validator requires eks with provider: eks
        raise ValueError("spec.eks is required")
    return request.spec.eks


def _ref(request: ClusterRequest) -> dict[str, Any]:
    """A reference to the composed Cluster (same namespace when namespaced)."""
    return {"name": request.name}


def compose_resources(request: ClusterRequest) -> dict[str, dict[str, Any]]:
    """The Cluster, ClusterAuth and both NodeGroups by composition resource name."""
    spec, eks, pool = request.spec, _eks(request), request.pool
    labels = cluster_labels(request, Provider.EKS.value)
    region = spec.region
    gpu = managed.gpu_machine(request, Provider.EKS)
    cluster = {
        "apiVersion": _api(request, "Cluster"),
        "kind": "Cluster",
        "metadata": managed.metadata(request, request.name, labels),
        "spec": {
            "forProvider": {
                "region": region,
                "roleArn": eks.role_arn,
                "version": spec.kubernetes_minor,
                "vpcConfig": {
                    "subnetIds": list(eks.subnet_ids),
                    "endpointPrivateAccess": True,
                    "endpointPublicAccess": True,
                },
                "accessConfig": {
                    "authenticationMode": "API_AND_CONFIG_MAP",
                    "bootstrapClusterCreatorAdminPermissions": True,
                },
            }
        },
    }
    auth = {
        "apiVersion": _api(request, "ClusterAuth"),
        "kind": "ClusterAuth",
        "metadata": managed.metadata(request, request.name, {naming.LABEL_CLUSTER: request.name}),
        "spec": {
            "forProvider": {"region": region, "clusterNameRef": _ref(request)},
            "writeConnectionSecretToRef": managed.connection_secret(
                request, naming.kubeconfig_secret(request.name)
            ),
        },
    }
    cpu = _node_group(
        request,
        "cpu",
        {
            "instanceTypes": [eks.cpu_instance_type],
            "amiType": CPU_AMI_TYPE,
            "capacityType": "ON_DEMAND",
            "labels": {naming.LABEL_CLUSTER: request.name},
        },
        eks.cpu_nodes,
        eks.cpu_nodes,
    )
    gpu_group = _node_group(
        request,
        "gpu",
        {
            "instanceTypes": [gpu.name],
            "amiType": AMI_TYPES[eks.node_image],
            "capacityType": CAPACITY_TYPES[eks.capacity_type],
            "diskSize": eks.disk_size_gib,
            "labels": {
                naming.LABEL_CLUSTER: request.name,
                naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
                **pool.node_labels,
            },
            "taint": [dict(managed.GPU_TAINT)],
        },
        pool.nodes,
        max(pool.max_nodes, pool.nodes),
    )
    return {
        naming.CLUSTER_RESOURCE: cluster,
        CLUSTER_AUTH: auth,
        CPU_NODE_GROUP: cpu,
        GPU_NODE_GROUP: gpu_group,
    }


def _node_group(
    request: ClusterRequest, pool: str, fields: dict[str, Any], low: int, high: int
) -> dict[str, Any]:
    eks = _eks(request)
    return {
        "apiVersion": _api(request, "NodeGroup"),
        "kind": "NodeGroup",
        "metadata": managed.metadata(
            request, f"{request.name}-{pool}", {naming.LABEL_CLUSTER: request.name}
        ),
        "spec": {
            "forProvider": {
                "region": request.spec.region,
                "clusterNameRef": _ref(request),
                "nodeRoleArn": eks.node_role_arn,
                "subnetIds": list(eks.subnet_ids),
                "version": request.spec.kubernetes_minor,
                "scalingConfig": {"minSize": low, "maxSize": high},
                **fields,
            },
            # Only at creation: the cluster-autoscaler owns the desired size afterwards.
            "initProvider": {"scalingConfig": {"desiredSize": low}},
        },
    }


class EksFamily(managed.ManagedFamily):
    """EKS through the upbound AWS provider."""

    order = ORDER
    control_plane = CONTROL_PLANE
    compose_resources = staticmethod(compose_resources)

    def gpu_operator_values(self, request: ClusterRequest) -> dict[str, Any]:
        """The NVIDIA AMIs ship the driver and the container toolkit."""
        return {"driver": {"enabled": False}, "toolkit": {"enabled": False}}
