"""The brute-force scorers `function.placement.decide.place` is checked and measured against.

`reference_place` is placement written the straightforward way, as it was before the fleet was
indexed: every call sorts the clusters, groups every cluster's nodes by product, sizes a replica
afresh for each group, copies the free devices of every node of the fleet, ranks every eligible
cluster and writes the reason of every cluster. `best_cluster` goes further: it scores every
node of every cluster on its own and takes the best node's cluster, the single-replica answer.
``tests/placement/test_decide_equivalence.py`` checks `place` against both on random fleets and
``benchmarks/placement.py`` measures the decisions per second of all three in one run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from function.catalog.costs import gpu_hour_costs
from function.compose.sizing import (
    GIB,
    GPU_MEMORY_UTILIZATION,
    MIB,
    TENSOR_PARALLEL_SIZES,
    replica_need_bytes,
)
from function.model.deployment import AIModelDeploymentSpec
from function.model.xr import GpuProduct
from function.placement.capacity import ClusterCapacity, FleetCapacity, NodeCapacity
from function.placement.decide import Assignment, Decision, Verdict


def best_cluster(
    spec: AIModelDeploymentSpec,
    fleet: FleetCapacity,
    costs: Mapping[GpuProduct, float] | None = None,
) -> str | None:
    """The cluster of the best-scoring node, scoring every node of every cluster afresh; for
    a deployment of one replica placed for the first time, with no reservations."""
    table = gpu_hour_costs(costs)
    dearest = max(table.values())
    best: tuple[float, str] | None = None  # (-score, cluster): lowest wins
    rules, prefs = spec.placement, spec.preferences
    for cluster in fleet.clusters:
        for node in cluster.nodes:
            if not cluster.ready or (rules.regions and cluster.region not in rules.regions):
                continue
            if rules.environment is not None and cluster.environment != rules.environment.value:
                continue
            if rules.cluster_selector is not None and not rules.cluster_selector.matches(
                cluster.labels
            ):
                continue
            if rules.gpu_products and node.product not in rules.gpu_products:
                continue
            need = replica_need_bytes(spec.model)
            usable = node.memory_mib * MIB * GPU_MEMORY_UTILIZATION
            devices = math.ceil(need / usable) if usable > 0 else math.inf
            tp = next((s for s in TENSOR_PARALLEL_SIZES if s >= devices), None)
            if tp is None or tp > node.allocatable or node.free < tp or (node.shared and tp > 1):
                continue
            price = table.get(node.product, dearest) if node.product else dearest
            cost = round(tp * price, 2)
            score = 0.0
            if prefs.regions:
                order = prefs.regions
                rank = order.index(cluster.region) if cluster.region in order else len(order)
                score += 100.0 * (len(order) - rank)
            if prefs.lowest_cost:
                score -= cost
            key = (-round(score, 2), cluster.name)
            if best is None or key < best:
                best = key
    return best[1] if best else None


@dataclass
class _Option:
    """One GPU product of one cluster that can hold replicas."""

    cluster: ClusterCapacity
    product: str
    tp: int
    cost: float
    score: float
    slots: dict[str, int] = field(default_factory=dict)
    """Replicas each node can still take, by node name."""
    explanation: str = ""

    @property
    def capacity(self) -> int:
        return sum(self.slots.values())

    def take(self, replicas: int) -> tuple[tuple[str, int], ...]:
        """Put up to ``replicas`` onto nodes first-fit; return the per-node split."""
        split = []
        for node in sorted(self.slots):
            if replicas <= 0:
                break
            n = min(self.slots[node], replicas)
            if n:
                self.slots[node] -= n
                replicas -= n
                split.append((node, n))
        return tuple(split)


def reference_place(
    deployment: str,
    spec: AIModelDeploymentSpec,
    fleet: FleetCapacity,
    *,
    current: Iterable[Assignment] = (),
    costs: Mapping[GpuProduct, float] | None = None,
) -> Decision:
    """The decision `place` must make, reached the long way."""
    need = replica_need_bytes(spec.model)
    table = gpu_hour_costs(costs)
    free = _free_devices(deployment, fleet)
    options: dict[str, _Option] = {}
    verdicts: dict[str, Verdict] = {}
    for cluster in sorted(fleet.clusters, key=lambda c: c.name):
        refusal = _constraint_refusal(spec, cluster)
        if refusal is not None:
            verdicts[cluster.name] = Verdict(cluster.name, refusal)
            continue
        option, reason = _best_option(spec, cluster, need, free, table)
        if option is None:
            verdicts[cluster.name] = Verdict(cluster.name, reason)
        else:
            options[cluster.name] = option

    assignments: dict[str, Assignment] = {}
    remaining = spec.replicas
    for previous in sorted(current, key=lambda a: a.cluster):
        if remaining <= 0:
            break
        option = options.get(previous.cluster)
        if option is None or option.product != previous.product:
            why = verdicts.get(previous.cluster)
            reason = why.reason if why else "cluster is gone from the fleet"
            verdicts[previous.cluster] = Verdict(previous.cluster, f"moved away: {reason}")
            continue
        keep = min(previous.replicas, remaining, option.capacity)
        if keep < previous.replicas and keep < remaining:
            option.explanation += f"; holds only {keep} of its {previous.replicas} replicas now"
        split = option.take(keep)
        assignments[option.cluster.name] = Assignment(
            option.cluster.name, option.product, option.tp, keep, split
        )
        remaining -= keep

    ranked = sorted(options.values(), key=lambda o: (-o.score, o.cluster.name))
    if spec.preferences.spread:
        open_options = [o for o in ranked if o.capacity]
        while remaining > 0 and open_options:
            for option in open_options[:remaining]:
                _add(assignments, option, 1)
                remaining -= 1
            open_options = [o for o in open_options if o.capacity]
    else:
        for option in ranked:
            if remaining <= 0:
                break
            n = min(remaining, option.capacity)
            if n:
                _add(assignments, option, n)
                remaining -= n

    top = max((options[name].score for name in assignments), default=None)
    for option in ranked:
        name = option.cluster.name
        held = assignments.get(name)
        if held is not None:
            kept = any(a.cluster == name for a in current)
            verb = "kept" if kept else "chosen"
            reason = f"{verb}: {held.replicas} x {held.gpus_per_replica} {held.product}; "
            verdicts[name] = Verdict(name, reason + option.explanation, option.score, held.replicas)
        else:
            verdicts[name] = Verdict(name, _passed_over(option, top, bool(current)), option.score)
    return Decision(
        wanted=spec.replicas,
        assignments=tuple(assignments[k] for k in sorted(assignments)),
        verdicts=tuple(verdicts[k] for k in sorted(verdicts)),
        need_gib=round(need / GIB, 1),
    )


def _passed_over(option: _Option, top: float | None, placed_before: bool) -> str:
    """Why an eligible cluster holds no replica."""
    if top is None:
        passed = "not needed"
    elif option.score > top and placed_before:
        passed = f"score {option.score} above the kept {top}, but a placed deployment does not "
        passed += "move while its clusters hold it"
    else:
        passed = f"score {option.score} below the chosen {top}"
    return f"{passed}; {option.explanation}"


def _add(assignments: dict[str, Assignment], option: _Option, replicas: int) -> None:
    split = option.take(replicas)
    name = option.cluster.name
    before = assignments.get(name)
    if before is None:
        assignments[name] = Assignment(name, option.product, option.tp, replicas, split)
        return
    nodes = dict(before.nodes)
    for node, n in split:
        nodes[node] = nodes.get(node, 0) + n
    assignments[name] = Assignment(
        name, before.product, before.gpus_per_replica, before.replicas + replicas,
        tuple(sorted(nodes.items())),
    )  # fmt: skip


def _free_devices(deployment: str, fleet: FleetCapacity) -> dict[tuple[str, str], int]:
    """Free devices per (cluster, node): other placements' reservations are taken, the
    deployment's own running pods are given back."""
    free = {(c.name, n.name): n.free for c in fleet.clusters for n in c.nodes}
    for holding in fleet.holdings:
        key = (holding.cluster, holding.node)
        if holding.deployment == deployment and key in free:
            free[key] += holding.gpus
    for reservation in fleet.reservations:
        key = (reservation.cluster, reservation.node)
        if reservation.deployment != deployment and key in free:
            free[key] = max(free[key] - reservation.gpus, 0)
    return free


def _constraint_refusal(spec: AIModelDeploymentSpec, cluster: ClusterCapacity) -> str | None:
    """Why the cluster may not run the deployment at all, or None."""
    rules = spec.placement
    if not cluster.ready:
        return cluster.unready_reason
    if rules.regions and cluster.region not in rules.regions:
        allowed = ", ".join(rules.regions)
        return f"region {cluster.region or '(none)'} not allowed (allowed: {allowed})"
    if rules.environment is not None and cluster.environment != rules.environment.value:
        return f"environment {cluster.environment or '(none)'} is not {rules.environment}"
    if rules.cluster_selector is not None and not rules.cluster_selector.matches(cluster.labels):
        return "labels do not match placement.clusterSelector"
    if not cluster.nodes:
        return "no GPU nodes"
    return None


def _best_option(
    spec: AIModelDeploymentSpec,
    cluster: ClusterCapacity,
    need: float,
    free: Mapping[tuple[str, str], int],
    costs: Mapping[GpuProduct, float],
) -> tuple[_Option | None, str]:
    """The cluster's cheapest product that can hold a replica now, or why none can."""
    groups: dict[str, list[NodeCapacity]] = {}
    for node in cluster.nodes:
        groups.setdefault(node.product_label, []).append(node)
    refusals: list[str] = []
    best: tuple[float, str, int, dict[str, int]] | None = None
    allowed = spec.placement.gpu_products
    dearest = max(costs.values())
    for label in sorted(groups):
        nodes = groups[label]
        product = nodes[0].product
        name = product.value if product is not None else label
        if allowed and product not in allowed:
            choice = ", ".join(p.value for p in allowed)
            refusals.append(f"{name} not allowed (allowed: {choice})")
            continue
        tp, refusal = _replica_devices(need, nodes, name)
        if refusal is not None:
            refusals.append(refusal)
            continue
        slots = {n.name: free.get((cluster.name, n.name), 0) // tp for n in nodes}
        if not any(slots.values()):
            largest = max(free.get((cluster.name, n.name), 0) for n in nodes)
            refusals.append(
                f"needs {tp} {name} GPUs on one node, largest free is {largest}"
                if largest
                else f"no {name} free"
            )
            continue
        cost = round(tp * (costs.get(product, dearest) if product else dearest), 2)
        if best is None or (cost, name) < best[:2]:
            best = (cost, name, tp, slots)
    if best is None:
        return None, "; ".join(refusals)
    cost, name, tp, slots = best
    return _scored(spec, cluster, name, tp, cost, slots), ""


def _replica_devices(need: float, nodes: list[NodeCapacity], name: str) -> tuple[int, str | None]:
    """Devices one replica spans on these nodes (all of one product), or why it cannot fit."""
    node = nodes[0]
    usable = node.memory_mib * MIB * GPU_MEMORY_UTILIZATION
    devices = math.ceil(need / usable) if usable > 0 else math.inf
    tp = next((size for size in TENSOR_PARALLEL_SIZES if size >= devices), None)
    gib = round(need / GIB, 1)
    if tp is None:
        return 0, f"needs {gib} GiB per replica, more than 8 {name} GPUs hold"
    if node.shared and tp > 1:
        return 0, f"needs {tp} {name} GPUs per replica; its devices are shared slices"
    largest = max(n.allocatable for n in nodes)
    if tp > largest:
        return 0, f"needs {tp} {name} GPUs on one node, largest node has {largest}"
    return tp, None


def _scored(
    spec: AIModelDeploymentSpec,
    cluster: ClusterCapacity,
    product: str,
    tp: int,
    cost: float,
    slots: dict[str, int],
) -> _Option:
    """Score: 100 per place of region preference (first preferred highest), minus the cost
    of a replica-hour when the lowest cost is preferred."""
    order = spec.preferences.regions
    parts = []
    score = 0.0
    if order:
        rank = order.index(cluster.region) if cluster.region in order else len(order)
        score += 100.0 * (len(order) - rank)
        parts.append(
            f"region {cluster.region} preference {rank + 1} of {len(order)}"
            if rank < len(order)
            else f"region {cluster.region} not preferred"
        )
    if spec.preferences.lowest_cost:
        score -= cost
    parts.append(f"${cost:.2f}/h per replica")
    parts.append(f"room for {sum(slots.values())}")
    option = _Option(cluster, product, tp, cost, round(score, 2), slots)
    option.explanation = f"score {option.score}: " + ", ".join(parts)
    return option
