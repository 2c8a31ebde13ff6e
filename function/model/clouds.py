"""The cloud settings of an XR provisioned through Crossplane's upbound providers.

``spec.eks``, ``spec.gke`` and ``spec.aks`` say what the cloud needs beyond the common spec:
the IAM roles and subnets of an EKS cluster, the GKE location and network, the AKS resource
group. They sit on `function.model.xr.ClusterSpec`, so every XR kind provisioned by a cloud
reads them alike; the modules under `function.compose.providers` (``eks``, ``gke``, ``aks``)
turn them into managed resources, and `function.catalog.clouds` picks the machine for the GPU.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from function.model.common import Spec

_ARN_ROLE = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
_SUBNET = r"^subnet-[0-9a-f]{8,17}$"


class EksNodeImage(StrEnum):
    """The EKS-optimized NVIDIA AMI family of the GPU node group; both ship the driver and
    the container toolkit."""

    AL2023 = "al2023"
    BOTTLEROCKET = "bottlerocket"


class CapacityType(StrEnum):
    """On-demand or spot capacity for the GPU nodes."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"


class EksSpec(Spec):
    """EKS settings: the cluster's and the nodes' IAM roles, its subnets, the node image."""

    role_arn: str = Field(
        pattern=_ARN_ROLE, max_length=2048, description="IAM role the EKS control plane assumes."
    )
    node_role_arn: str = Field(
        pattern=_ARN_ROLE, max_length=2048, description="IAM role of the worker nodes."
    )
    subnet_ids: list[Annotated[str, Field(pattern=_SUBNET)]] = Field(
        min_length=2,
        max_length=16,
        description="Subnets (in at least two availability zones) of the cluster and its nodes.",
    )
    node_image: EksNodeImage = Field(
        default=EksNodeImage.AL2023, description="NVIDIA AMI family of the GPU node group."
    )
    capacity_type: CapacityType = Field(
        default=CapacityType.ON_DEMAND, description="Capacity type of the GPU node group."
    )
    cpu_instance_type: str = Field(
        default="m6i.xlarge",
        pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
        description="Instance type of the CPU node group (system pods, operators).",
    )
    cpu_nodes: int = Field(default=2, ge=1, le=100, description="Nodes of the CPU node group.")
    disk_size_gib: int = Field(
        default=200, ge=20, le=16384, description="Root volume of each GPU node, in GiB."
    )


class GpuDriver(StrEnum):
    """Who installs the NVIDIA driver on cloud GPU nodes: the cloud's node image or the GPU
    operator."""

    CLOUD = "cloud"
    OPERATOR = "operator"


class GkeSpec(Spec):
    """GKE settings: the zone of the node pools, the network, who installs the GPU driver."""

    zone: str = Field(
        pattern=r"^[a-z]+-[a-z]+[0-9]+-[a-z]$",
        description="Zone of the region the node pools run in (GPUs are zonal); the control "
        "plane is regional.",
    )

    network: str = Field(
        default="default", min_length=1, max_length=63, description="VPC network of the cluster."
    )
    subnetwork: str | None = Field(
        default=None, min_length=1, max_length=63, description="Subnetwork of the cluster."
    )
    gpu_driver: GpuDriver = Field(
        default=GpuDriver.CLOUD,
        description="cloud: GKE installs the driver (the GPU operator does not); operator: "
        "GKE installs none and the GPU operator does.",
    )
    cpu_machine_type: str = Field(
        default="e2-standard-4",
        pattern=r"^[a-z0-9]+-[a-z0-9-]+$",
        description="Machine type of the CPU node pool.",
    )
    cpu_nodes: int = Field(default=2, ge=1, le=100, description="Nodes of the CPU node pool.")
    spot: bool = Field(default=False, description="Spot VMs for the GPU node pool.")


class AksSpec(Spec):
    """AKS settings: the resource group and who installs the GPU driver."""

    resource_group: str = Field(
        pattern=r"^[-\w.()]{1,89}[-\w()]$", description="Resource group of the cluster."
    )
    gpu_driver: GpuDriver = Field(
        default=GpuDriver.OPERATOR,
        description="operator: AKS installs no driver and the GPU operator does; cloud: AKS "
        "installs it (the GPU operator does not).",
    )
    system_vm_size: str = Field(
        default="Standard_D4s_v5",
        pattern=r"^Standard_[A-Za-z0-9_]+$",
        description="VM size of the system node pool.",
    )
    system_nodes: int = Field(default=2, ge=1, le=100, description="Nodes of the system pool.")
    spot: bool = Field(default=False, description="Spot VMs for the GPU node pool.")
