"""Placement as a pure function: (deployment, fleet capacity, current placement) → decision.

`place` filters the fleet's clusters by the deployment's constraints, sizes one replica for
each GPU product a cluster offers (`function.compose.sizing`: memory and tensor-parallel size,
all of a replica's devices on one node), counts how many replicas fit on the free devices
(allocatable minus running pods minus other placements' reservations), scores the clusters that
can hold at least one replica (region preference, then cost per replica-hour from
`function.catalog.costs`), and splits the replicas: packed onto the best cluster, or spread
one at a time over the ranked clusters. Every cluster gets a `Verdict` whose reason explains
the choice or the refusal ("region us-east-1 not allowed", "needs 4 H100-80GB GPUs on one
node, largest free is 2").

Over a large fleet a decision does only what the deployment changes: the snapshot's index
(clusters in name order, nodes grouped by product with their free devices, the kinds of
groups the fleet has; `function.placement.capacity`) is built once per snapshot, a replica
is sized and priced once per kind and the kinds no node can take are dropped
(`function.placement.options`), each cluster takes its first fitting kind, cheapest first,
the ranking is a heap popped only as far as the replicas need, and a reason is written when
it is read. ``tests/placement/test_decide_equivalence.py`` holds it to the decisions of the
straightforward scorer it replaced.

Stability: replicas already placed stay where they are while their cluster exists, still
passes the constraints and can hold them; only the replicas that lost their cluster (or do
not fit any more) are placed again. The same input always yields the same decision (clusters
and nodes are visited in name order, ties go to the lower name). `function.placement.explain`
renders decisions; the reconciler's placement controller acts on them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from function.catalog.costs import gpu_hour_costs
from function.compose.sizing import GIB, replica_need_bytes
from function.model.deployment import AIModelDeploymentSpec
from function.model.xr import GpuProduct
from function.placement.capacity import FleetCapacity, Reservation
from function.placement.options import (
    Option,
    best_option,
    capacity_refusal,
    constraint_refusal,
    free_devices,
    prepare,
)


@dataclass(frozen=True)
class Assignment:
    """Replicas of the deployment on one cluster."""

    cluster: str
    product: str
    """The catalog product (``H100-80GB``), or the GFD label for a product the catalog lacks."""
    gpus_per_replica: int
    replicas: int
    nodes: tuple[tuple[str, int], ...] = ()
    """Replicas per node, in node-name order: what the reservations hold until pods run."""

    @property
    def gpus(self) -> int:
        """GPUs the replicas hold."""
        return self.replicas * self.gpus_per_replica


class Verdict:
    """Why one cluster was chosen, kept, passed over or refused.

    The reason is written when it is first read: a decision over a large fleet judges every
    cluster, but only the reasons shown (in a status, by ``aifleet place``) are ever read.
    """

    __slots__ = ("_reason", "cluster", "replicas", "score")
    cluster: str
    score: float | None
    replicas: int
    _reason: str | Callable[[], str]

    def __init__(
        self,
        cluster: str,
        reason: str | Callable[[], str],
        score: float | None = None,
        replicas: int = 0,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "cluster", cluster)
        setattr_(self, "_reason", reason)
        setattr_(self, "score", score)
        setattr_(self, "replicas", replicas)

    @property
    def reason(self) -> str:
        """The reason, in words."""
        reason = self._reason
        if not isinstance(reason, str):
            reason = reason()
            object.__setattr__(self, "_reason", reason)
        return reason

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Verdict is immutable: cannot set {name}")

    def __reduce__(self) -> tuple[type[Verdict], tuple[str, str, float | None, int]]:
        return (Verdict, self._key())  # copied or pickled with its reason written

    def _key(self) -> tuple[str, str, float | None, int]:
        return (self.cluster, self.reason, self.score, self.replicas)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Verdict) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Verdict(cluster={self.cluster!r}, reason={self.reason!r}, score={self.score!r}, "
            f"replicas={self.replicas!r})"
        )


@dataclass(frozen=True)
class Decision:
    """Where the deployment's replicas go, and why."""

    wanted: int
    assignments: tuple[Assignment, ...]
    verdicts: tuple[Verdict, ...]
    need_gib: float

    @property
    def placed(self) -> int:
        """Replicas with a cluster."""
        return sum(a.replicas for a in self.assignments)

    @property
    def complete(self) -> bool:
        """Whether every wanted replica has a cluster."""
        return self.placed >= self.wanted

    @property
    def gpus(self) -> int:
        """GPUs the placed replicas hold."""
        return sum(a.gpus for a in self.assignments)

    @property
    def message(self) -> str:
        """The decision in one line."""
        where = ", ".join(
            f"{a.cluster} ({a.replicas} x {a.gpus_per_replica} {a.product})"
            for a in self.assignments
        )
        if self.complete:
            return f"placed {self.placed} of {self.wanted} replicas on {where}"
        if self.assignments:
            return f"placed {self.placed} of {self.wanted} replicas on {where}; no room for more"
        seen = len(self.verdicts)
        return f"no cluster of the {seen} seen can hold a replica ({self.need_gib} GiB)"


def place(
    deployment: str,
    spec: AIModelDeploymentSpec,
    fleet: FleetCapacity,
    *,
    current: Iterable[Assignment] = (),
    costs: Mapping[GpuProduct, float] | None = None,
) -> Decision:
    """Decide where ``deployment`` (``namespace/name``) runs; see the module docstring."""
    need = replica_need_bytes(spec.model)
    current = tuple(current)
    touched, grows = free_devices(deployment, fleet)
    call = prepare(spec, need, gpu_hour_costs(costs), fleet, grows)
    options: dict[str, Option] = {}
    verdicts: dict[str, Verdict] = {}
    refusals: dict[tuple[str, str | None], str] = {}
    for cluster in fleet.ordered:
        name = cluster.name
        if call.constrained or not (cluster.ready and cluster.nodes):
            refusal = constraint_refusal(spec, cluster, refusals)
            if refusal is not None:
                verdicts[name] = Verdict(name, refusal)
                continue
        free = touched.get(name) if touched else None
        option = best_option(call, cluster, free)
        if option is None:
            verdicts[name] = Verdict(name, partial(capacity_refusal, call, cluster, free))
        else:
            options[name] = option

    assignments: dict[str, Assignment] = {}
    remaining = spec.replicas
    for previous in sorted(current, key=lambda a: a.cluster):
        if remaining <= 0:
            break
        option = options.get(previous.cluster)
        if option is None or option.product != previous.product:
            was = verdicts.get(previous.cluster)
            moved = partial(_moved, was) if was else "moved away: cluster is gone from the fleet"
            verdicts[previous.cluster] = Verdict(previous.cluster, moved)
            continue
        keep = min(previous.replicas, remaining, option.capacity)
        if keep < previous.replicas and keep < remaining:
            option.notes += f"; holds only {keep} of its {previous.replicas} replicas now"
        split = option.take(keep)
        assignments[option.cluster.name] = Assignment(
            option.cluster.name, option.product, option.tp, keep, split
        )
        remaining -= keep

    # Best first, ties to the lower name; popped only as far as the replicas need.
    ranked = [(-o.score, name, o) for name, o in options.items()]
    heapq.heapify(ranked)
    if spec.preferences.spread:
        open_options: list[Option] = []
        while ranked and len(open_options) < remaining:
            option = heapq.heappop(ranked)[2]
            if option.capacity:
                open_options.append(option)
        while remaining > 0 and open_options:
            for option in open_options[:remaining]:
                _add(assignments, option, 1)
                remaining -= 1
            open_options = [o for o in open_options if o.capacity]
    else:
        while remaining > 0 and ranked:
            option = heapq.heappop(ranked)[2]
            n = min(remaining, option.capacity)
            if n:
                _add(assignments, option, n)
                remaining -= n

    top = max((options[name].score for name in assignments), default=None)
    kept = {a.cluster for a in current}
    for name, option in options.items():
        held = assignments.get(name)
        if held is not None:
            verb = "kept" if name in kept else "chosen"
            why = partial(_held, verb, held, option)
            verdicts[name] = Verdict(name, why, option.score, held.replicas)
        else:
            why = partial(_passed_over, option, top, bool(current))
            verdicts[name] = Verdict(name, why, option.score)
    ordered = [verdicts[c.name] for c in fleet.ordered]
    if len(ordered) < len(verdicts):  # placed before on clusters gone from the fleet
        ordered = [verdicts[k] for k in sorted(verdicts)]
    return Decision(
        wanted=spec.replicas,
        assignments=tuple(assignments[k] for k in sorted(assignments)),
        verdicts=tuple(ordered),
        need_gib=round(need / GIB, 1),
    )


def _held(verb: str, held: Assignment, option: Option) -> str:
    reason = f"{verb}: {held.replicas} x {held.gpus_per_replica} {held.product}; "
    return reason + option.explanation


def _moved(was: Verdict) -> str:
    return f"moved away: {was.reason}"


def _passed_over(option: Option, top: float | None, placed_before: bool) -> str:
    """Why an eligible cluster holds no replica."""
    if top is None:
        passed = "not needed"
    elif option.score > top and placed_before:
        passed = f"score {option.score} above the kept {top}, but a placed deployment does not "
        passed += "move while its clusters hold it"
    else:
        passed = f"score {option.score} below the chosen {top}"
    return f"{passed}; {option.explanation}"


def _add(assignments: dict[str, Assignment], option: Option, replicas: int) -> None:
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


def reservations_of(deployment: str, decision: Decision) -> tuple[Reservation, ...]:
    """The GPUs the decision promises, per node, for the placements that follow it."""
    return tuple(
        Reservation(deployment, a.cluster, node, replicas * a.gpus_per_replica)
        for a in decision.assignments
        for node, replicas in a.nodes
    )
