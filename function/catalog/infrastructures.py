"""What the GPU worker pool's machine is called on each Cluster API infrastructure.

A ClusterClass's patches turn variables into the infrastructure's machine template: CAPA's
``AWSMachineTemplate.spec.template.spec.instanceType``, CAPZ's ``vmSize``, CAPG's
``instanceType`` with its accelerators, CAPO's ``flavor``, Metal³'s ``hostSelector``. This
table says which variables the ``gpu-worker`` MachineDeployment carries per infrastructure, so
one ClusterClass per infrastructure serves every GPU product:

- aws: ``instanceType``, from the AWS rows of `function.catalog.clouds`;
- azure: ``vmSize``, from the Azure rows;
- gcp: ``machineType`` and ``accelerators[]`` (type, count), from the Google Cloud rows;
- openstack: ``flavor`` and ``accelerators[]``; flavors are a site's own, so the flavor is
  ``spec.capi.machineType`` or else the convention ``gpu.<product>.<GPUs per node>``
  (``gpu.h100-80gb.8``);
- metal3: ``hostSelector.matchLabels`` with GFD's product label and ``nvidia.com/gpu.count``,
  the labels an operator puts on each BareMetalHost;
- docker: none — kind nodes have no GPUs.

The public clouds offer only some products with some GPUs per node; `gpu_variables` raises
`function.catalog.clouds.NotOfferedError` naming what they do offer, the FATAL result's
message. ``spec.capi.machineType`` names the machine outright where a site's catalog differs
(a private region, a reserved instance family) and skips that check. Every variable here
is plain data: the function is pure and the caller maps the error to a field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from function.catalog.clouds import machine
from function.model.xr import GpuProduct, Infrastructure, Provider

CLOUD_OF: Mapping[Infrastructure, Provider] = MappingProxyType(
    {
        Infrastructure.AWS: Provider.EKS,
        Infrastructure.AZURE: Provider.AKS,
        Infrastructure.GCP: Provider.GKE,
    }
)
"""The infrastructures whose machines come from a public cloud's table."""

_MACHINE_VARIABLE: Mapping[Infrastructure, str] = MappingProxyType(
    {
        Infrastructure.AWS: "instanceType",
        Infrastructure.AZURE: "vmSize",
        Infrastructure.GCP: "machineType",
        Infrastructure.OPENSTACK: "flavor",
    }
)

GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_COUNT = "nvidia.com/gpu.count"
"""The labels a Metal³ BareMetalHost carries for the GPUs it holds (as GFD names them)."""

_GKE_ACCELERATOR: Mapping[GpuProduct, str] = MappingProxyType(
    {
        GpuProduct.T4: "nvidia-tesla-t4",
        GpuProduct.L4: "nvidia-l4",
        GpuProduct.A10G: "nvidia-a10g",
        GpuProduct.L40S: "nvidia-l40s",
        GpuProduct.A100_40GB: "nvidia-tesla-a100",
        GpuProduct.A100_80GB: "nvidia-a100-80gb",
        GpuProduct.H100_80GB: "nvidia-h100-80gb",
        GpuProduct.H200_141GB: "nvidia-h200-141gb",
    }
)
"""Accelerator type names in the form clouds and device plugins share (``nvidia-l4``)."""


def variable_name(infrastructure: Infrastructure) -> str | None:
    """The variable naming the machine on ``infrastructure``, if it has one."""
    return _MACHINE_VARIABLE.get(infrastructure)


def gpu_variables(
    infrastructure: Infrastructure,
    *,
    region: str,
    product: GpuProduct,
    per_node: int,
    product_label: str,
    machine_type: str | None = None,
) -> list[dict[str, Any]]:
    """The ``gpu-worker`` variable overrides naming the machine of ``per_node`` GPUs of
    ``product`` in ``region``; raises `NotOfferedError` when a public cloud has none."""
    if infrastructure is Infrastructure.DOCKER:
        return []
    if infrastructure is Infrastructure.METAL3:
        labels = {GFD_PRODUCT: product_label, GFD_COUNT: str(per_node)}
        return [{"name": "hostSelector", "value": {"matchLabels": labels}}]
    accelerators = [{"type": _GKE_ACCELERATOR[product], "count": per_node}]
    cloud = CLOUD_OF.get(infrastructure)
    if machine_type is not None:
        name = machine_type
    elif cloud is not None:
        found = machine(cloud, region, product, per_node)
        name = found.name
        if found.accelerator:
            accelerators = [{"type": found.accelerator, "count": per_node}]
    else:
        name = f"gpu.{product.value.lower()}.{per_node}"
    out: list[dict[str, Any]] = [{"name": _MACHINE_VARIABLE[infrastructure], "value": name}]
    if infrastructure in (Infrastructure.GCP, Infrastructure.OPENSTACK):
        out.append({"name": "accelerators", "value": accelerators})
    return out
