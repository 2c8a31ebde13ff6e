"""What each cluster offers one deployment: its cheapest product that can hold a replica.

`function.placement.decide` asks, per decision: `free_devices` (the nodes whose free devices
other placements' reservations or the deployment's own pods change), `prepare` (a replica
sized and priced once per kind of node group the fleet has, the kinds no node anywhere can
take pruned), then per cluster `constraint_refusal` (region, environment, selector, readiness)
and `best_option`: the first kind, cheapest first, with a node free enough, scored as an
`Option`. Only when a cluster is refused or passed over and its reason is read does
`capacity_refusal` write, product by product, why it cannot hold a replica. Everything a
snapshot alone determines (groups of nodes, the fleet's kinds, the name order) is cached on
`function.placement.capacity`'s objects. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from function.compose.sizing import GIB, GPU_MEMORY_UTILIZATION, MIB, TENSOR_PARALLEL_SIZES
from function.model.deployment import AIModelDeploymentSpec
from function.model.xr import GpuProduct
from function.placement.capacity import ClusterCapacity, FleetCapacity, GroupKind, NodeGroup


class Option:
    """One GPU product of one cluster that can hold replicas: the cluster's cheapest."""

    __slots__ = (
        "_free",
        "_slots",
        "cluster",
        "cost",
        "group",
        "notes",
        "of",
        "rank",
        "room",
        "score",
        "tp",
    )  # fmt: skip

    def __init__(
        self,
        cluster: ClusterCapacity,
        group: NodeGroup,
        tp: int,
        cost: float,
        free: tuple[int, ...],
        rank: int,
        of: int,
        score: float,
    ) -> None:
        self.cluster = cluster
        self.group = group
        self.tp = tp
        self.cost = cost
        self.score = score
        self.rank, self.of = rank, of
        """Place of the cluster's region in the preferred order of ``of`` regions."""
        self._free = free
        self._slots: list[int] | None = None
        self.room = 0
        """Replicas the nodes could take before any was placed."""
        self.notes = ""

    @property
    def product(self) -> str:
        return self.group.name

    @property
    def slots(self) -> list[int]:
        """Replicas each node (`NodeGroup.nodes`) can still take."""
        if self._slots is None:
            tp = self.tp
            self._slots = [free // tp for free in self._free]
            self.room = sum(self._slots)
        return self._slots

    @property
    def capacity(self) -> int:
        return sum(self.slots)

    @property
    def explanation(self) -> str:
        """``score S: region ..., $C/h per replica, room for N`` and what befell it since."""
        parts = []
        if self.of:
            region = self.cluster.region
            parts.append(
                f"region {region} preference {self.rank + 1} of {self.of}"
                if self.rank < self.of
                else f"region {region} not preferred"
            )
        parts.append(f"${self.cost:.2f}/h per replica")
        self.slots  # noqa: B018 -- the room is counted before the first replica is taken
        parts.append(f"room for {self.room}")
        return f"score {self.score}: " + ", ".join(parts) + self.notes

    def take(self, replicas: int) -> tuple[tuple[str, int], ...]:
        """Put up to ``replicas`` onto nodes first-fit; return the per-node split."""
        split = []
        slots = self.slots
        for i, node in enumerate(self.group.nodes):
            if replicas <= 0:
                break
            n = min(slots[i], replicas)
            if n:
                slots[i] -= n
                replicas -= n
                split.append((node, n))
        return tuple(split)


@dataclass(frozen=True)
class Call:
    """What one decision reads over and over: the deployment's needs, priced and sized once."""

    spec: AIModelDeploymentSpec
    need: float
    costs: Mapping[GpuProduct, float]
    fitting: tuple[tuple[GroupKind, int, float], ...]
    """(kind, devices per replica, cost per replica-hour) of every kind of node group a replica
    can use somewhere in the fleet, cheapest first (then by product name and label)."""
    ranks: Mapping[str | None, int]
    base: tuple[float, ...]
    """Score of each place of region preference, before cost."""
    lowest_cost: bool
    constrained: bool
    """Whether regions, environment or labels may refuse a ready cluster with GPU nodes."""


def free_devices(deployment: str, fleet: FleetCapacity) -> tuple[dict[str, dict[str, int]], bool]:
    """Free devices per node of the clusters where other placements' reservations are taken
    or the deployment's own running pods are given back (every other node has its snapshot's
    `NodeCapacity.free`), and whether any node has more free than its snapshot says."""
    touched: dict[str, dict[str, int]] = {}
    named = fleet.named

    def free(cluster: str) -> dict[str, int]:
        if cluster not in touched:
            nodes = named[cluster].nodes if cluster in named else ()
            touched[cluster] = {n.name: n.free for n in nodes}
        return touched[cluster]

    grows = False
    for holding in fleet.holdings:
        if holding.deployment == deployment and holding.node in (nodes := free(holding.cluster)):
            nodes[holding.node] += holding.gpus
            grows = grows or holding.gpus > 0
    for reservation in fleet.reservations:
        nodes = free(reservation.cluster) if reservation.deployment != deployment else {}
        if reservation.node in nodes:
            nodes[reservation.node] = max(nodes[reservation.node] - reservation.gpus, 0)
    return touched, grows


def prepare(
    spec: AIModelDeploymentSpec,
    need: float,
    costs: Mapping[GpuProduct, float],
    fleet: FleetCapacity,
    grows: bool,
) -> Call:
    """Size and price a replica once per kind of node group the fleet has."""
    rules = spec.placement
    allowed = rules.gpu_products
    dearest = max(costs.values())
    fitting = []
    for kind, (largest, most) in fleet.kinds.items():
        label, product, memory_mib, shared = kind
        if allowed and product not in allowed:
            continue
        tp = tensor_parallel(need, memory_mib)
        if tp is None or (shared and tp > 1) or tp > largest or (tp > most and not grows):
            continue  # no node of this kind anywhere in the fleet can hold a replica
        name = product.value if product is not None else label
        cost = round(tp * (costs.get(product, dearest) if product else dearest), 2)
        fitting.append((cost, name, label, kind, tp))
    fitting.sort(key=lambda f: f[:3])
    order = spec.preferences.regions
    return Call(
        spec=spec,
        need=need,
        costs=costs,
        fitting=tuple((kind, tp, cost) for cost, _, _, kind, tp in fitting),
        ranks={region: rank for rank, region in reversed(list(enumerate(order)))},
        base=tuple(0.0 + 100.0 * (len(order) - rank) for rank in range(len(order) + 1)),
        lowest_cost=spec.preferences.lowest_cost,
        constrained=bool(rules.regions or rules.environment or rules.cluster_selector),
    )


def tensor_parallel(need: float, memory_mib: int) -> int | None:
    """Devices of ``memory_mib`` one replica spans, or None when more than eight."""
    usable = memory_mib * MIB * GPU_MEMORY_UTILIZATION
    devices = math.ceil(need / usable) if usable > 0 else math.inf
    return next((size for size in TENSOR_PARALLEL_SIZES if size >= devices), None)


def constraint_refusal(
    spec: AIModelDeploymentSpec,
    cluster: ClusterCapacity,
    said: dict[tuple[str, str | None], str],
) -> str | None:
    """Why the cluster may not run the deployment at all, or None (``said`` keeps the text
    of each refused region and environment)."""
    rules = spec.placement
    if not cluster.ready:
        return cluster.unready_reason
    if rules.regions and (region := cluster.region) not in rules.regions:
        if ("region", region) not in said:
            allowed = ", ".join(rules.regions)
            said["region", region] = f"region {region or '(none)'} not allowed (allowed: {allowed})"
        return said["region", region]
    if rules.environment is not None and (env := cluster.environment) != rules.environment.value:
        if ("environment", env) not in said:
            said["environment", env] = f"environment {env or '(none)'} is not {rules.environment}"
        return said["environment", env]
    if rules.cluster_selector is not None and not rules.cluster_selector.matches(cluster.labels):
        return "labels do not match placement.clusterSelector"
    if not cluster.nodes:
        return "no GPU nodes"
    return None


def best_option(
    call: Call, cluster: ClusterCapacity, touched: Mapping[str, int] | None
) -> Option | None:
    """The cluster's cheapest product that can hold a replica now, scored, or None.

    Score: 100 per place of region preference (first preferred highest), minus the cost of a
    replica-hour when the lowest cost is preferred."""
    groups = cluster.group_of
    for kind, tp, cost in call.fitting:
        group = groups.get(kind)
        if group is None or tp > group.largest_allocatable:
            continue
        if touched is None:
            free, most = group.free, group.most_free
        else:
            free = tuple(touched[node] for node in group.nodes)
            most = max(free)
        if most < tp:
            continue
        of = len(call.base) - 1
        rank = call.ranks.get(cluster.region, of) if of else 0
        score = call.base[rank] if of else 0.0
        if call.lowest_cost:
            score -= cost
        return Option(cluster, group, tp, cost, free, rank, of, round(score, 2))
    return None


def capacity_refusal(
    call: Call, cluster: ClusterCapacity, touched: Mapping[str, int] | None
) -> str:
    """Why none of the cluster's products can hold a replica now, product by product."""
    refusals: list[str] = []
    allowed = call.spec.placement.gpu_products
    for group in cluster.groups:
        name = group.name
        if allowed and group.product not in allowed:
            choice = ", ".join(p.value for p in allowed)
            refusals.append(f"{name} not allowed (allowed: {choice})")
            continue
        tp, refusal = _replica_devices(call.need, group)
        if refusal is not None:
            refusals.append(refusal)
            continue
        free = group.free if touched is None else tuple(touched[n] for n in group.nodes)
        largest = max(free)
        refusals.append(
            f"needs {tp} {name} GPUs on one node, largest free is {largest}"
            if largest
            else f"no {name} free"
        )
    return "; ".join(refusals)


def _replica_devices(need: float, group: NodeGroup) -> tuple[int, str | None]:
    """Devices one replica spans on the group's nodes, or why it cannot fit."""
    name = group.name
    tp = tensor_parallel(need, group.memory_mib)
    if tp is None:
        return 0, f"needs {round(need / GIB, 1)} GiB per replica, more than 8 {name} GPUs hold"
    if group.shared and tp > 1:
        return 0, f"needs {tp} {name} GPUs per replica; its devices are shared slices"
    largest = group.largest_allocatable
    if tp > largest:
        return 0, f"needs {tp} {name} GPUs on one node, largest node has {largest}"
    return tp, None
