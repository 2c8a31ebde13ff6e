"""Fleet capacity as placement sees it: per cluster, per node, the GPUs offered and taken.

A workload cluster's GPU capacity is read from the cluster itself: each Node's allocatable
``nvidia.com/gpu`` and its GPU feature discovery labels (``nvidia.com/gpu.product``,
``nvidia.com/gpu.memory`` in MiB, ``nvidia.com/gpu.replicas`` when time-sliced), minus the GPUs
requested by the pods bound to it that still run. `node_capacity` and `cluster_capacity` do
that reading from plain Node and Pod objects, without I/O, so the reconciler's watches
(`function.reconciler.placement`) and the offline fleet file (`function.placement.fleetfile`)
produce the same `ClusterCapacity`. Reservations (GPUs promised to placements whose pods do
not run yet) are subtracted by `function.placement.decide`.

The capacity objects are immutable snapshots, so what placement derives from them alone is
derived once per snapshot and cached on it: a cluster's `NodeGroup`s (its nodes by GPU product
label, with their free devices), and the fleet's clusters in name order with, per kind of
group, the most any cluster offers (`FleetCapacity.kinds`, kept by `fleet_index` for the
last few sets of cluster snapshots, since a new `FleetCapacity` is made whenever only the
reservations change). Every decision over the same snapshots starts from there instead of
sorting and grouping sixteen thousand nodes again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
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


GroupKind = tuple[str, GpuProduct | None, int, bool]
"""(product label, product, memory of a device in MiB, shared): what sizing a replica reads."""


@dataclass(frozen=True)
class NodeGroup:
    """A cluster's nodes of one GPU product label: a replica is sized once for all of them."""

    label: str
    product: GpuProduct | None
    memory_mib: int
    """Of the label's first node in the cluster's order (every node of a label has the same)."""
    shared: bool
    largest_allocatable: int
    nodes: tuple[str, ...]
    """Node names, in name order."""
    free: tuple[int, ...]
    """Free devices of each node, as ``nodes``."""

    @property
    def name(self) -> str:
        """The catalog product, or the label for a product the catalog lacks."""
        return self.product.value if self.product is not None else self.label

    @cached_property
    def kind(self) -> GroupKind:
        """What sizing a replica for this group reads."""
        return (self.label, self.product, self.memory_mib, self.shared)

    @cached_property
    def most_free(self) -> int:
        """Free devices of the freest node."""
        return max(self.free)


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

    @cached_property
    def groups(self) -> tuple[NodeGroup, ...]:
        """The nodes by GPU product label, in label order."""
        by_label: dict[str, list[NodeCapacity]] = {}
        for node in self.nodes:
            by_label.setdefault(node.product_label, []).append(node)
        out = []
        for label in sorted(by_label):
            nodes = by_label[label]
            first = nodes[0]
            ordered = sorted(nodes, key=lambda n: n.name)
            out.append(
                NodeGroup(
                    label=label,
                    product=first.product,
                    memory_mib=first.memory_mib,
                    shared=first.shared,
                    largest_allocatable=max(n.allocatable for n in nodes),
                    nodes=tuple(n.name for n in ordered),
                    free=tuple(n.free for n in ordered),
                )
            )
        return tuple(out)

    @cached_property
    def group_of(self) -> dict[GroupKind, NodeGroup]:
        """`groups` by kind."""
        return {group.kind: group for group in self.groups}


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
        return dict(self.index.named)

    @cached_property
    def index(self) -> FleetIndex:
        """What placement derives from the clusters alone."""
        return fleet_index(self.clusters)

    @property
    def named(self) -> Mapping[str, ClusterCapacity]:
        """Clusters by ``namespace/name`` (of two of one name, the later)."""
        return self.index.named

    @property
    def ordered(self) -> tuple[ClusterCapacity, ...]:
        """The clusters in name order, one per name."""
        return self.index.ordered

    @property
    def kinds(self) -> Mapping[GroupKind, tuple[int, int]]:
        """Every kind of node group in the fleet, with the largest allocatable and the most
        free devices one node of that kind has: more than that, no cluster offers."""
        return self.index.kinds


@dataclass(frozen=True)
class FleetIndex:
    """A fleet's clusters by name, in name order, and the kinds of node groups they have."""

    named: Mapping[str, ClusterCapacity]
    ordered: tuple[ClusterCapacity, ...]
    kinds: Mapping[GroupKind, tuple[int, int]]


_INDEXES: OrderedDict[tuple[int, ...], tuple[tuple[ClusterCapacity, ...], FleetIndex]]
_INDEXES = OrderedDict()
_INDEXES_KEPT = 8
_INDEXES_LOCK = threading.Lock()


def fleet_index(clusters: tuple[ClusterCapacity, ...]) -> FleetIndex:
    """The index of these very cluster snapshots.

    The placement controller builds a new `FleetCapacity` per decision (the reservations
    change) from cluster snapshots it keeps until their Nodes or Pods change, so the index is
    kept for the last few sets of snapshots, by identity; the entry holds the snapshots, so no
    identity is reused while it is kept. The same snapshots always give the same index.
    """
    key = tuple(map(id, clusters))
    with _INDEXES_LOCK:
        hit = _INDEXES.get(key)
        if hit is not None:
            _INDEXES.move_to_end(key)
            return hit[1]
    named = {cluster.name: cluster for cluster in clusters}
    ordered = tuple(named[name] for name in sorted(named))
    kinds: dict[GroupKind, tuple[int, int]] = {}
    for cluster in ordered:
        for group in cluster.groups:
            kind = group.kind
            largest, most = kinds.get(kind, (0, 0))
            kinds[kind] = (max(largest, group.largest_allocatable), max(most, group.most_free))
    index = FleetIndex(named, ordered, kinds)
    with _INDEXES_LOCK:
        _INDEXES[key] = (clusters, index)
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
    return index


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
