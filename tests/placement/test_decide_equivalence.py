"""`place` on random fleets decides exactly what the brute-force scorers decide.

Fleets mix the catalog's products with time-sliced and MIG labels and a product the catalog
lacks, busy and idle nodes, clusters that are not ready or have no GPU nodes, other
deployments' reservations, the deployment's own running pods, and replicas placed before (on
clusters that are still there or gone). For every such fleet and a random deployment, `place`
must return the very `Decision` of `tests.placement.bruteforce.reference_place` (assignments,
per-node splits, every cluster's score and reason) and, for a first single-replica placement,
the cluster `best_cluster` finds by scoring every node on its own. A new snapshot of one cluster
is what the next decision sees, and verdicts copy with their reasons.
"""

from __future__ import annotations

import copy
import pickle
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.catalog.gpus import GPUS
from function.model.deployment import AIModelDeploymentSpec, parse_deployment_spec
from function.model.xr import GpuProduct
from function.placement.capacity import (
    ClusterCapacity,
    FleetCapacity,
    NodeCapacity,
    Reservation,
    product_of,
)
from function.placement.decide import Assignment, Decision, place
from function.placement.explain import render_decision, status_of
from tests.placement.bruteforce import best_cluster, reference_place

D = "team/model"
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")
ENVIRONMENTS = ("dev", "staging", "prod")
LABELS: dict[str, int] = {gpu.label: gpu.memory_mib for gpu in GPUS.values()}
LABELS |= {
    GPUS[GpuProduct.H100_80GB].label + "-SHARED": GPUS[GpuProduct.H100_80GB].memory_mib // 4,
    GPUS[GpuProduct.A100_80GB].label + "-MIG-3g.40gb": 38146,
    GPUS[GpuProduct.L4].label + "-SHARED": GPUS[GpuProduct.L4].memory_mib // 2,
    "NVIDIA-B200": 184320,
}
PRODUCT_NAMES = sorted({g.product.value for g in GPUS.values()} | {"NVIDIA-B200"})


@st.composite
def clusters(draw: st.DrawFn, index: int) -> ClusterCapacity:
    labels: dict[str, str] = {}
    if region := draw(st.sampled_from((*REGIONS, None))):
        labels["aifleet.io/region"] = region
    if environment := draw(st.sampled_from((*ENVIRONMENTS, None))):
        labels["aifleet.io/environment"] = environment
    if draw(st.booleans()):
        labels["tier"] = draw(st.sampled_from(("gold", "silver")))
    nodes = []
    for pool in range(draw(st.integers(0, 3))):
        label = draw(st.sampled_from(sorted(LABELS)))
        product, shared = product_of(label)
        gpus = draw(st.integers(1, 8))
        for n in range(draw(st.integers(1, 3))):
            requested = draw(st.sampled_from((0, gpus)) | st.integers(0, gpus))
            nodes.append(
                NodeCapacity(f"n{pool}-{n}", product, label, LABELS[label], gpus, requested, shared)
            )
    ready = draw(st.integers(0, 9)) > 0
    # the fleet gives clusters in any order, and their nodes in any order
    random.Random(index).shuffle(nodes)
    return ClusterCapacity(f"default/c{index:02d}", labels, tuple(nodes), ready)


@st.composite
def fleets(draw: st.DrawFn) -> FleetCapacity:
    count = draw(st.integers(0, 12))
    found = [draw(clusters(i)) for i in range(count)]
    order = draw(st.permutations(range(count)))
    where = [(c.name, n.name) for c in found for n in c.nodes] + [("default/gone", "n0-0")]

    def promised(deployments: tuple[str, ...]) -> st.SearchStrategy[list[Reservation]]:
        one = st.builds(
            lambda who, at, gpus: Reservation(who, at[0], at[1], gpus),
            st.sampled_from(deployments),
            st.sampled_from(where),
            st.integers(1, 8),
        )
        return st.lists(one, max_size=6)

    reservations = draw(promised((D, "team/other", "team/third")))
    holdings = draw(promised((D, "team/other")))
    return FleetCapacity(tuple(found[i] for i in order), tuple(reservations), tuple(holdings))


@st.composite
def specs(draw: st.DrawFn) -> AIModelDeploymentSpec:
    model: dict[str, Any] = {
        "name": "m",
        "source": "hf://org/m",
        "parameters": draw(st.sampled_from(("1B", "8B", "13B", "34B", "70B", "405B"))),
        "precision": draw(st.sampled_from(("fp16", "fp8", "int4"))),
    }
    placement: dict[str, Any] = {}
    if draw(st.booleans()):
        placement["regions"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, unique=True))
    if draw(st.booleans()):
        placement["environment"] = draw(st.sampled_from(ENVIRONMENTS))
    if draw(st.booleans()):
        products = sorted(p.value for p in GpuProduct)
        placement["gpuProducts"] = draw(
            st.lists(st.sampled_from(products), min_size=1, unique=True)
        )
    if draw(st.integers(0, 3)) == 0:
        placement["clusterSelector"] = {"matchLabels": {"tier": "gold"}}
    preferences: dict[str, Any] = {
        "lowestCost": draw(st.booleans()),
        "spread": draw(st.booleans()),
    }
    if draw(st.booleans()):
        preferences["regions"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, unique=True))
    return parse_deployment_spec(
        {
            "model": model,
            "replicas": draw(st.integers(1, 9)),
            "placement": placement,
            "preferences": preferences,
        }
    )


def previous(fleet: FleetCapacity) -> st.SearchStrategy[list[Assignment]]:
    """Replicas placed before anywhere, on any product (on clusters gone since, too)."""
    names = sorted({c.name for c in fleet.clusters} | {"default/gone"})
    one = st.builds(
        lambda cluster, product, tp, replicas: Assignment(
            cluster, product, tp, replicas, (("n0-0", replicas),)
        ),
        st.sampled_from(names),
        st.sampled_from(PRODUCT_NAMES),
        st.sampled_from((1, 2, 4, 8)),
        st.integers(1, 4),
    )
    return st.lists(one, max_size=3, unique_by=lambda a: a.cluster)


@st.composite
def placed_before(
    draw: st.DrawFn, fleet: FleetCapacity, spec: AIModelDeploymentSpec
) -> tuple[FleetCapacity, tuple[Assignment, ...]]:
    """The fleet with the deployment's earlier placement, made when its nodes were idle, and
    some of the GPUs that placement's running pods request given back as holdings; or with
    replicas placed anywhere."""
    if draw(st.booleans()):
        return fleet, tuple(draw(previous(fleet)))
    idle = FleetCapacity(
        tuple(
            replace(c, nodes=tuple(replace(n, requested=0) for n in c.nodes))
            for c in fleet.clusters
        )
    )
    earlier = spec.model_copy(update={"replicas": draw(st.integers(1, 9))})
    current = reference_place(D, earlier, idle).assignments
    holdings = [
        Reservation(D, a.cluster, node, replicas * a.gpus_per_replica)
        for a in current
        for node, replicas in a.nodes
        if draw(st.booleans())
    ]
    return replace(fleet, holdings=fleet.holdings + tuple(holdings)), current


costs = st.none() | st.dictionaries(
    st.sampled_from(list(GpuProduct)), st.floats(0.1, 20.0).map(lambda c: round(c, 2)), max_size=4
)


def same(ours: Decision, theirs: Decision) -> None:
    assert ours.assignments == theirs.assignments
    assert [(v.cluster, v.score, v.replicas) for v in ours.verdicts] == [
        (v.cluster, v.score, v.replicas) for v in theirs.verdicts
    ]
    assert [v.reason for v in ours.verdicts] == [v.reason for v in theirs.verdicts]
    assert ours == theirs
    assert ours.message == theirs.message
    assert render_decision(D, ours) == render_decision(D, theirs)
    assert status_of(ours) == status_of(theirs)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), spec=specs(), table=costs, data=st.data())
def test_place_decides_what_the_brute_force_scorer_decides(
    fleet: FleetCapacity,
    spec: AIModelDeploymentSpec,
    table: dict[GpuProduct, float] | None,
    data: st.DataObject,
) -> None:
    fleet, current = data.draw(placed_before(fleet, spec))
    ours = place(D, spec, fleet, current=current, costs=table)
    same(ours, reference_place(D, spec, fleet, current=current, costs=table))
    # the same snapshot asked again (its index is cached by now) decides the same
    same(place(D, spec, fleet, current=current, costs=table), ours)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), spec=specs(), table=costs)
def test_a_first_single_replica_goes_to_the_cluster_of_the_best_node(
    fleet: FleetCapacity, spec: AIModelDeploymentSpec, table: dict[GpuProduct, float] | None
) -> None:
    bare = FleetCapacity(fleet.clusters)
    one = spec.model_copy(update={"replicas": 1})
    decision = place(D, one, bare, costs=table)
    chosen = decision.assignments[0].cluster if decision.assignments else None
    assert chosen == best_cluster(one, bare, table)


def test_a_new_snapshot_of_one_cluster_is_what_the_next_decision_sees() -> None:
    def h100s(name: str, requested: int) -> ClusterCapacity:
        label = GPUS[GpuProduct.H100_80GB].label
        node = NodeCapacity("gpu", GpuProduct.H100_80GB, label, 81559, 8, requested)
        return ClusterCapacity(name, {"aifleet.io/region": "eu-west-1"}, (node,))

    a, b = h100s("default/a", 0), h100s("default/b", 0)
    spec = parse_deployment_spec(
        {"model": {"name": "m", "parameters": "70B", "source": "hf://org/m"}}
    )
    assert [x.cluster for x in place(D, spec, FleetCapacity((a, b))).assignments] == ["default/a"]
    # the same snapshots again, in a new FleetCapacity with a reservation: the index is reused
    taken = FleetCapacity((a, b), (Reservation("team/other", "default/a", "gpu", 6),))
    assert [x.cluster for x in place(D, spec, taken).assignments] == ["default/b"]
    # a new snapshot of a (its GPUs requested by pods now): decided on the new one
    busy = FleetCapacity((h100s("default/a", 6), b))
    decision = place(D, spec, busy)
    assert [x.cluster for x in decision.assignments] == ["default/b"]
    assert {v.cluster: v.reason for v in decision.verdicts}["default/a"] == (
        "needs 4 H100-80GB GPUs on one node, largest free is 2"
    )


def test_a_verdict_is_immutable_and_copies_with_its_reason() -> None:
    decision = place(D, parse_deployment_spec({"model": {"name": "m", "parameters": "8B",
                     "source": "hf://org/m"}}), FleetCapacity((
        ClusterCapacity("default/a", {}, (NodeCapacity("gpu", None, "X", 1, 1),)),
    )))  # fmt: skip
    (verdict,) = decision.verdicts
    with pytest.raises(AttributeError):
        verdict.cluster = "default/b"
    for again in (copy.deepcopy(decision), pickle.loads(pickle.dumps(decision))):
        assert again == decision
        assert again.verdicts[0].reason == verdict.reason
    assert verdict.reason.startswith("needs ")
