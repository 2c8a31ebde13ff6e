"""The offline fleet file of ``aifleet place``: clusters with labels and GPU capacity.

Authors test placement policies without a fleet: a YAML file lists clusters (``namespace/name``,
region, environment, labels, readiness) and their GPU nodes (product, GPUs per node, GPUs
already requested, how many such nodes), optionally the reservations of other placements and
per-product cost overrides. `load_fleet` parses it with field-path errors (`function.model.
common.parse`) into the same `FleetCapacity` the reconciler builds from live Nodes and Pods.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from function.catalog.gpus import GPUS
from function.compose import naming
from function.model.common import Spec, parse
from function.model.xr import Environment, GpuProduct
from function.placement.capacity import (
    ClusterCapacity,
    FleetCapacity,
    NodeCapacity,
    Reservation,
    product_of,
)


class NodePool(Spec):
    """``count`` identical GPU nodes."""

    name: str = Field(default="gpu", min_length=1, description="Node name, or its prefix.")
    product: GpuProduct | None = Field(default=None, description="Catalog GPU product.")
    product_label: str | None = Field(
        default=None,
        min_length=1,
        description="The nvidia.com/gpu.product label, for products outside the catalog or "
        "shared devices (-SHARED, -MIG-1g.10gb).",
    )
    memory_mib: int | None = Field(
        default=None, ge=1, alias="memoryMiB", description="Memory of one device in MiB."
    )
    gpus: int = Field(ge=1, le=64, description="Allocatable nvidia.com/gpu per node.")
    requested: int = Field(default=0, ge=0, description="GPUs requested by running pods.")
    count: int = Field(default=1, ge=1, le=10000, description="How many such nodes.")

    @model_validator(mode="after")
    def _product(self) -> Self:
        if (self.product is None) == (self.product_label is None):
            raise ValueError("exactly one of product and productLabel must be set")
        if self.product is None and self.memory_mib is None:
            label = self.product_label or ""
            if product_of(label)[0] is None:
                raise ValueError(f"memoryMiB is required for product label {label!r}")
        return self


class FleetCluster(Spec):
    """One cluster of the fleet."""

    name: str = Field(min_length=1, description="namespace/name, or a name in `default`.")
    region: str | None = Field(default=None, description="Becomes the aifleet.io/region label.")
    environment: Environment | None = Field(
        default=None, description="Becomes the aifleet.io/environment label."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Cluster labels.")
    ready: bool = Field(default=True, description="Whether the cluster is ready.")
    nodes: list[NodePool] = Field(default_factory=list, description="GPU nodes.")


class FleetReservation(Spec):
    """GPUs another placement holds on a node before its pods run."""

    deployment: str = Field(min_length=1, description="namespace/name of the deployment.")
    cluster: str = Field(min_length=1, description="namespace/name of the cluster.")
    node: str = Field(min_length=1, description="Node name.")
    gpus: int = Field(ge=1, description="GPUs reserved.")


class FleetFile(Spec):
    """A fleet for offline placement."""

    api_version: str | None = Field(default=None, description="Ignored; for tooling.")
    kind: str | None = Field(default=None, description="Ignored; for tooling.")
    clusters: list[FleetCluster] = Field(description="The clusters.")
    reservations: list[FleetReservation] = Field(
        default_factory=list, description="GPUs promised to other placements."
    )
    gpu_cost_per_hour: dict[GpuProduct, float] = Field(
        default_factory=dict, description="USD per GPU-hour, over the catalog's table."
    )


def cluster_key(name: str) -> str:
    """``eu-1`` → ``default/eu-1``; ``team/eu-1`` stays."""
    return name if "/" in name else f"{naming.DEFAULT_NAMESPACE}/{name}"


def load_fleet(data: Any) -> tuple[FleetCapacity, dict[GpuProduct, float]]:
    """The fleet's capacity and its cost overrides; raise `SpecError` naming bad fields."""
    fleet = parse(FleetFile, data, root="fleet")
    clusters = tuple(_cluster(c) for c in fleet.clusters)
    reservations = tuple(
        Reservation(r.deployment, cluster_key(r.cluster), r.node, r.gpus)
        for r in fleet.reservations
    )
    return FleetCapacity(clusters, reservations), dict(fleet.gpu_cost_per_hour)


def _cluster(cluster: FleetCluster) -> ClusterCapacity:
    labels = dict(cluster.labels)
    if cluster.region is not None:
        labels[naming.LABEL_REGION] = cluster.region
    if cluster.environment is not None:
        labels[naming.LABEL_ENVIRONMENT] = cluster.environment.value
    nodes = []
    for pool in cluster.nodes:
        label = pool.product_label or (GPUS[pool.product].label if pool.product else "")
        product, shared = product_of(label)
        memory = pool.memory_mib or (GPUS[product].memory_mib if product else 0)
        for i in range(pool.count):
            name = pool.name if pool.count == 1 else f"{pool.name}-{i}"
            nodes.append(
                NodeCapacity(name, product, label, memory, pool.gpus, pool.requested, shared)
            )
    return ClusterCapacity(
        cluster_key(cluster.name), labels, tuple(sorted(nodes, key=lambda n: n.name)),
        cluster.ready,
    )  # fmt: skip
