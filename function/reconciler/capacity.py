"""Fleet capacity read from the workload clusters themselves, for placement.

`read_cluster_capacity` lists a workload cluster's Nodes and Pods through the `KubeClient`
seam and hands them to the pure reader `function.placement.capacity.cluster_capacity`
(allocatable ``nvidia.com/gpu``, GPU feature discovery labels, GPUs requested by pods that
have not finished). `read_fleet` does it for several clusters at once and adds the
reservations of placements whose pods do not run yet. The placement controller calls these;
`function.placement.decide` decides on the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from function.kube.client import KubeClient
from function.placement.capacity import (
    ClusterCapacity,
    FleetCapacity,
    Reservation,
    cluster_capacity,
)


@dataclass(frozen=True)
class FleetMember:
    """One workload cluster placement may choose: its client, labels and readiness."""

    name: str
    """``namespace/name`` of the cluster object on the management cluster."""
    client: KubeClient
    labels: Mapping[str, str]
    ready: bool = True


async def read_cluster_capacity(member: FleetMember) -> ClusterCapacity:
    """The cluster's GPU capacity from its Nodes and Pods."""
    nodes, pods = await asyncio.gather(
        member.client.list("v1", "Node"), member.client.list("v1", "Pod")
    )
    return cluster_capacity(member.name, member.labels, nodes.items, pods.items, ready=member.ready)


async def read_fleet(
    members: Iterable[FleetMember], reservations: Iterable[Reservation] = ()
) -> FleetCapacity:
    """Every member's capacity, read concurrently, with the given reservations."""
    clusters = await asyncio.gather(*(read_cluster_capacity(m) for m in members))
    return FleetCapacity(tuple(sorted(clusters, key=lambda c: c.name)), tuple(reservations))
