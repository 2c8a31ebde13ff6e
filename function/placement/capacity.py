"""Fleet capacity as placement sees it: per cluster, per node, the GPUs offered and taken.

A workload cluster's GPU capacity is read from the cluster itself: each Node's allocatable
``nvidia.com/gpu`` and its GPU feature discovery labels (``nvidia.com/gpu.product``,
``nvidia.com/gpu.memory`` in MiB, ``nvidia.com/gpu.replicas`` when time-sliced), minus the GPUs
requested by the pods bound to it that still run. `node_capacity` and `cluster_capacity` do
that reading from plain Node and Pod objects, without I/O, so the reconciler's watches
(`function.reconciler.placement`) and the offline fleet file (`function.placement.fleetfile`)
produce the same `ClusterCapacity`. Reservations (GPUs promised to placements whose pods do
not run yet) are subtracted by `function.placement.decide`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from function.catalog.gpus import GPUS
from function.compose import naming
from function.model.xr import GpuProduct

GPU_RESOURCE = "nvidia.com/gpu"
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_MEMORY = "nvidia.com/gpu.memory"
GFD_REPLICAS = "nvidia.com/gpu.replicas"
_BY_LABEL = {gpu.label: gpu.product for gpu in GPUS.values()}
_FINISHED = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class NodeCapacity:
    """The GPUs of one node."""

    name: str
    product: GpuProduct | None
    """The catalog product behind the GFD label; None for a product the catalog lacks."""
    product_label: str
    memory_mib: int
    """Memory of one schedulable device (a time slice's share, a MIG slice)."""
    allocatable: int
    requested: int = 0
    shared: bool = False
    """Devices are time slices or MIG slices: a replica cannot span several."""

    @property
    def free(self) -> int:
        """Devices not requested by running pods."""
        return max(self.allocatable - self.requested, 0)


@dataclass(frozen=True)
class ClusterCapacity:
    """One workload cluster of the fleet."""

    name: str
    """``namespace/name`` of the cluster object on the management cluster."""
    labels: Mapping[str, str] = field(default_factory=dict)
    nodes: tuple[NodeCapacity, ...] = ()
    ready: bool = True
    unready_reason: str = "cluster is not ready"
    """Why a cluster that is not ready is refused (its Nodes not listed yet, say)."""

    @property
    def region(self) -> str | None:
        """The ``aifleet.io/region`` label."""
        return self.labels.get(naming.LABEL_REGION)

    @property
    def environment(self) -> str | None:
        """The ``aifleet.io/environment`` label."""
        return self.labels.get(naming.LABEL_ENVIRONMENT)

    @property
    def free(self) -> int:
        """Free devices over every node."""
        return sum(node.free for node in self.nodes)


@dataclass(frozen=True)
class Reservation:
    """GPUs of one node promised to, or held by, one deployment (``namespace/name``)."""

    deployment: str
    cluster: str
    node: str
    gpus: int


@dataclass(frozen=True)
class FleetCapacity:
    """Every cluster placement may choose from, and the GPUs already promised on them."""

    clusters: tuple[ClusterCapacity, ...]
    reservations: tuple[Reservation, ...] = ()
    """GPUs promised to placements whose pods do not request them yet."""
    holdings: tuple[Reservation, ...] = ()
    """GPUs the running pods of each placement request (already in `NodeCapacity.requested`):
    a deployment re-placed over its own pods counts them as free."""

    def by_name(self) -> dict[str, ClusterCapacity]:
        """Clusters by ``namespace/name``."""
        return {cluster.name: cluster for cluster in self.clusters}


def product_of(label: str) -> tuple[GpuProduct | None, bool]:
    """The catalog product of a GFD product label and whether its devices are shared.

    ``NVIDIA-H100-80GB-HBM3-SHARED`` (time-slicing) and ``NVIDIA-A100-SXM4-80GB-MIG-1g.10gb``
    (MIG single strategy) are slices of the product before the suffix.
    """
    base, shared = label, False
    if "-MIG-" in base:
        base, shared = base.split("-MIG-", 1)[0], True
    if base.endswith("-SHARED"):
        base, shared = base.removesuffix("-SHARED"), True
    return _BY_LABEL.get(base), shared


def node_capacity(node: Mapping[str, Any], requested: int = 0) -> NodeCapacity | None:
    """The GPUs a Node offers, or None for a node without allocatable GPUs or GFD labels."""
    labels = node.get("metadata", {}).get("labels") or {}
    allocatable = _quantity((node.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE))
    label = labels.get(GFD_PRODUCT)
    if allocatable <= 0 or not label:
        return None
    product, shared = product_of(str(label))
    memory = _quantity(labels.get(GFD_MEMORY))
    if memory <= 0 and product is not None:
        memory = GPUS[product].memory_mib
    replicas = _quantity(labels.get(GFD_REPLICAS)) if shared and "-MIG-" not in label else 1
    if replicas > 1:
        memory //= replicas  # every time slice sees the whole GPU but may use only its share
    return NodeCapacity(
        name=str(node.get("metadata", {}).get("name", "")),
        product=product,
        product_label=str(label),
        memory_mib=memory,
        allocatable=allocatable,
        requested=requested,
        shared=shared,
    )


def gpu_requests_by_node(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """GPUs requested per node by the bound pods that have not finished."""
    taken: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in _FINISHED:
            continue
        gpus = pod_gpu_request(pod)
        if gpus:
            taken[node] = taken.get(node, 0) + gpus
    return taken


def pod_gpu_request(pod: Mapping[str, Any]) -> int:
    """``nvidia.com/gpu`` a pod requests: its containers' sum, or an init container's most."""
    spec = pod.get("spec") or {}

    def request(container: Mapping[str, Any]) -> int:
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get(GPU_RESOURCE)
        if value is None:
            value = (resources.get("limits") or {}).get(GPU_RESOURCE)
        return _quantity(value)

    running = sum(request(c) for c in spec.get("containers") or [])
    init = max((request(c) for c in spec.get("initContainers") or []), default=0)
    return max(running, init)


def cluster_capacity(
    name: str,
    labels: Mapping[str, str],
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    *,
    ready: bool = True,
) -> ClusterCapacity:
    """A cluster's capacity from its Node and Pod objects."""
    taken = gpu_requests_by_node(pods)
    read = (node_capacity(n, taken.get(n.get("metadata", {}).get("name", ""), 0)) for n in nodes)
    gpu_nodes = tuple(sorted((n for n in read if n is not None), key=lambda n: n.name))
    return ClusterCapacity(name=name, labels=dict(labels), nodes=gpu_nodes, ready=ready)


def _quantity(value: Any) -> int:
    """A count-like Kubernetes quantity (``"8"``, ``8``); anything else is 0."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0
