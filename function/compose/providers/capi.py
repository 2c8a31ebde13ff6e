"""The Cluster API family: one `Cluster` with a ClusterClass topology.

The ClusterClass named in ``spec.capi.clusterClass`` must offer two MachineDeployment classes,
``cpu-worker`` and ``gpu-worker``, and the variables ``region``, ``environment``,
``gpuProduct`` and ``gpusPerNode``, plus the GPU worker's machine variables of its
infrastructure (``instanceType``, ``vmSize``, ``machineType`` and ``accelerators``, ``flavor``,
``hostSelector``: `function.catalog.infrastructures`), which its patches map into the machine
template. A GPU pool that may grow (``maxNodes`` above the nodes the models need) is the
cluster-autoscaler's: it carries the node-group bounds (the minimum is the nodes the models
need) and no ``replicas``, as Cluster API's autoscaling guide asks of managed topologies, so
neither the topology controller nor Crossplane's re-apply undoes a scale-up; Cluster API
defaults a new MachineDeployment's replicas to the minimum. A pool that cannot grow sets
``replicas`` and no bounds. Either way the scale-from-zero capacity annotations describe the
pool's machines (the autoscaler ignores them on a pool without bounds). The v1beta2 shape
(``classRef``) is the default; the Input's ``capiApiVersion: v1beta1`` emits ``class``
instead. `function.compose.sizing` provides the pool size; readiness is read back by
`function.model.capi`, the reading the reconciler shares. The kubeconfig is Cluster API's
``<name>-kubeconfig`` Secret, key ``value``. A `function.compose.providers.family.ProviderFamily`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from function.catalog.clouds import NotOfferedError
from function.catalog.infrastructures import gpu_variables
from function.compose import naming
from function.compose.providers.family import (
    ClusterPlan,
    ClusterRequest,
    ClusterState,
    cluster_labels,
)
from function.compose.sizing import PoolSize
from function.errors import SpecError
from function.model.capi import read_cluster_status
from function.model.common import ObjectRef
from function.model.input import CapiApiVersion
from function.model.xr import CapiSpec, ClusterSpec, Environment, Infrastructure
from function.model.xrstatus import SecretKeyRef

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


def compose_cluster(request: ClusterRequest) -> dict[str, Any]:
    """The desired `Cluster` object."""
    spec, version = request.spec, request.settings.capi_api_version
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
            "name": request.name,
            "namespace": request.namespace,
            "labels": cluster_labels(request, capi.infrastructure.value),
        },
        "spec": {
            "topology": {
                **class_ref,
                "version": spec.kubernetes_release,
                "controlPlane": {"replicas": _control_plane_replicas(spec, capi)},
                "workers": {
                    "machineDeployments": [
                        {"class": CPU_WORKER_CLASS, "name": "cpu", "replicas": capi.cpu_workers},
                        _gpu_pool(
                            request.pool, gpu_machine_variables(capi, spec.region, request.pool)
                        ),
                    ]
                },
                "variables": [
                    {"name": "region", "value": spec.region},
                    {"name": "environment", "value": spec.environment.value},
                ],
            }
        },
    }


def _capi(spec: ClusterSpec) -> CapiSpec:
    if spec.capi is None:  # the spec validator requires capi with provider: capi
        raise ValueError("spec.capi is required")
    return spec.capi


def _control_plane_replicas(spec: ClusterSpec, capi: CapiSpec) -> int:
    if capi.control_plane_replicas is not None:
        return capi.control_plane_replicas
    return 1 if spec.environment is Environment.DEV else 3


def gpu_machine_variables(capi: CapiSpec, region: str, pool: PoolSize) -> list[dict[str, Any]]:
    """The variables naming the GPU pool's machine on the ClusterClass's infrastructure
    (`function.catalog.infrastructures`); a `SpecError` at ``spec.gpu.product`` (or
    ``perNode``) naming what a public cloud offers when it has no such machine."""
    try:
        return gpu_variables(
            capi.infrastructure,
            region=region,
            product=pool.gpu.product,
            per_node=pool.per_node,
            product_label=pool.gpu.label,
            machine_type=capi.machine_type,
        )
    except NotOfferedError as err:
        hint = "; or name the machine in spec.capi.machineType"
        raise SpecError.at(f"spec.gpu.{err.field}", f"{err}{hint}") from None


def _gpu_pool(pool: PoolSize, machine: list[dict[str, Any]]) -> dict[str, Any]:
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
                *machine,
            ]
        },
    }
    if pool.max_nodes > pool.nodes:
        annotations[AUTOSCALER_MIN] = str(pool.nodes)
        annotations[AUTOSCALER_MAX] = str(pool.max_nodes)
    else:
        deployment["replicas"] = pool.nodes
    return deployment


def cluster_plan(cluster: dict[str, Any]) -> ClusterPlan:
    """The plan of one composed `Cluster`: the bundle targets it, and Cluster API writes its
    kubeconfig to its ``<name>-kubeconfig`` Secret in its namespace."""
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    ref = ObjectRef(api_version=cluster["apiVersion"], kind=KIND, name=name, namespace=namespace)
    kubeconfig = SecretKeyRef(
        name=naming.kubeconfig_secret(name), namespace=namespace, key=naming.KUBECONFIG_KEY
    )
    return ClusterPlan({naming.CLUSTER_RESOURCE: cluster}, ref, kubeconfig)


OBSERVED_FIELDS: Mapping[str, tuple[str, ...]] = {
    naming.CLUSTER_RESOURCE: (
        "metadata.deletionTimestamp",
        "metadata.annotations",
        "spec.paused",
        "status.phase",
        "status.failureReason",
        "status.failureMessage",
        "status.initialization",
        "status.controlPlaneReady",
        "status.conditions",
        "status.v1beta2",
        "status.deprecated",
    ),
}


def cluster_state(cluster: Mapping[str, Any] | None) -> ClusterState:
    """Read the readiness of an observed Cluster API ``Cluster`` (v1beta1 or v1beta2)."""
    if not cluster:
        return ClusterState(ready={naming.CLUSTER_RESOURCE: False})
    status = read_cluster_status(cluster)
    return ClusterState(
        observed=True,
        initialized=status.control_plane_initialized,
        available=status.available,
        failed=status.failed,
        deleting=status.deleting,
        paused=status.paused,
        phase=status.phase,
        message=status.message,
        ready={naming.CLUSTER_RESOURCE: status.available},
    )


class CapiFamily:
    """Cluster API with a ClusterClass topology."""

    observed_fields = OBSERVED_FIELDS

    def compose(self, request: ClusterRequest) -> ClusterPlan:
        """One `Cluster`; the bundle targets it and Cluster API writes its kubeconfig."""
        return cluster_plan(compose_cluster(request))

    def readiness(self, observed: Mapping[str, Mapping[str, Any]]) -> ClusterState:
        """Cluster API's own reading of the `Cluster`."""
        return cluster_state(observed.get(naming.CLUSTER_RESOURCE))

    def gpu_operator_values(self, request: ClusterRequest) -> dict[str, Any]:
        """Docker machines have no GPU driver to install or toolkit to configure."""
        capi = request.spec.capi
        if capi is not None and capi.infrastructure is Infrastructure.DOCKER:
            return {"driver": {"enabled": False}, "toolkit": {"enabled": False}}
        return {}
