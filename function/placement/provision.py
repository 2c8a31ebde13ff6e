"""The AIInferenceCluster composed when a deployment fits nowhere and asks to ``Provision``.

`provision_cluster` sizes a new inference cluster for the deployment alone: in the region
``provision.region`` names (else the first preferred, else the first allowed region), on the
GPU product ``provision.gpuProduct`` names (else the cheapest allowed catalog product a replica
fits on within one node), with as many GPU nodes as the replicas need. The XR lists no models:
the placement controller serves the model on it through its own AddonBundle once the cluster's
GPUs are allocatable, exactly as on any other cluster of the fleet. Pure; the controller
(`function.reconciler.deployments`) creates the object and deletes it when it is reclaimed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from function.catalog.costs import gpu_hour_costs
from function.catalog.gpus import GPUS
from function.compose import naming
from function.compose.sizing import GPU_MEMORY_UTILIZATION, MIB, TENSOR_PARALLEL_SIZES
from function.compose.sizing import replica_need_bytes as need_bytes
from function.errors import SpecError
from function.model.deployment import AIModelDeploymentSpec
from function.model.xr import GpuProduct
from function.placement.delivery import DEPLOYMENT_LABEL

XR_API_VERSION = "aifleet.io/v1alpha1"
XR_KIND = "AIInferenceCluster"


def provisioned_name(deployment: str) -> str:
    """``team/llama`` → ``llama-capacity``."""
    return f"{deployment.split('/')[-1]}-capacity"[:63]


def devices_per_replica(spec: AIModelDeploymentSpec, product: GpuProduct) -> int | None:
    """GPUs of ``product`` one replica spans, or None when it does not fit one node."""
    gpu = GPUS[product]
    devices = math.ceil(need_bytes(spec.model) / (gpu.memory_mib * MIB * GPU_MEMORY_UTILIZATION))
    tp = next((size for size in TENSOR_PARALLEL_SIZES if size >= devices), None)
    return tp if tp is not None and tp <= gpu.per_node else None


def provision_product(
    spec: AIModelDeploymentSpec, costs: Mapping[GpuProduct, float] | None = None
) -> tuple[GpuProduct, int]:
    """The product of the new cluster and the GPUs per replica on it."""
    assert spec.provision is not None
    table = gpu_hour_costs(costs)
    if spec.provision.gpu_product is not None:
        product = spec.provision.gpu_product
        tp = devices_per_replica(spec, product)
        if tp is None:
            raise SpecError.at(
                "spec.provision.gpuProduct",
                f"a replica of {spec.model.name} does not fit on one {product} node",
            )
        return product, tp
    allowed = spec.placement.gpu_products or list(GPUS)
    fitting = [(p, tp) for p in allowed if (tp := devices_per_replica(spec, p)) is not None]
    if not fitting:
        raise SpecError.at(
            "spec.placement.gpuProducts",
            f"a replica of {spec.model.name} fits on one node of no allowed GPU product",
        )
    return min(fitting, key=lambda f: (round(f[1] * table[f[0]], 2), f[0].value))


def provision_region(spec: AIModelDeploymentSpec) -> str:
    """Where the new cluster goes."""
    assert spec.provision is not None
    region = spec.provision.region
    region = region or next(iter(spec.preferences.regions), None)
    region = region or next(iter(spec.placement.regions), None)
    if region is None:
        raise SpecError.at(
            "spec.provision.region",
            "required when neither preferences.regions nor placement.regions names a region",
        )
    return region


def provision_cluster(
    deployment: str,
    spec: AIModelDeploymentSpec,
    costs: Mapping[GpuProduct, float] | None = None,
    *,
    replicas: int | None = None,
) -> dict[str, Any]:
    """The AIInferenceCluster manifest for ``deployment`` (``namespace/name``), with GPU nodes
    for ``replicas`` (by default all of the deployment's)."""
    assert spec.provision is not None
    namespace, name = deployment.split("/", 1)
    product, tp = provision_product(spec, costs)
    nodes = math.ceil((replicas or spec.replicas) * tp / GPUS[product].per_node)
    labels = {**spec.provision.labels, DEPLOYMENT_LABEL: name}
    body: dict[str, Any] = {
        "provider": "capi",
        "capi": spec.provision.capi.to_manifest(),
        "region": provision_region(spec),
        "gpu": {"product": product.value, "minNodes": nodes, "maxNodes": max(nodes, 1)},
        "models": [],
        "labels": labels,
    }
    if spec.placement.environment is not None:
        body["environment"] = spec.placement.environment.value
    return {
        "apiVersion": XR_API_VERSION,
        "kind": XR_KIND,
        "metadata": {
            "name": provisioned_name(deployment),
            "namespace": namespace,
            "labels": {DEPLOYMENT_LABEL: name, naming.LABEL_TENANT: namespace},
        },
        "spec": body,
    }
