"""Placement decisions: fit, constraints, preferences, spread, stability and their reasons."""

from dataclasses import replace
from typing import Any

import pytest

from function.model.deployment import AIModelDeploymentSpec, parse_deployment_spec
from function.placement.capacity import ClusterCapacity, FleetCapacity, NodeCapacity, Reservation
from function.placement.decide import Assignment, Decision, place, reservations_of
from function.placement.fleetfile import load_fleet

D = "team/model"


def spec(**fields: Any) -> AIModelDeploymentSpec:
    model = {"name": "m", "parameters": "8B", "source": "hf://org/m", **fields.pop("model", {})}
    return parse_deployment_spec({"model": model, **fields})


def fleet(*clusters: dict[str, Any], **extra: Any) -> FleetCapacity:
    capacity, _ = load_fleet({"clusters": list(clusters), **extra})
    return capacity


def cluster(name: str, region: str = "eu-west-1", **fields: Any) -> dict[str, Any]:
    fields.setdefault("nodes", [{"product": "H100-80GB", "gpus": 8}])
    return {"name": name, "region": region, **fields}


def reasons(decision: Decision) -> dict[str, str]:
    return {v.cluster: v.reason for v in decision.verdicts}


def split(decision: Decision) -> dict[str, int]:
    return {a.cluster: a.replicas for a in decision.assignments}


SEVENTY_B = {"parameters": "70B"}  # fp16, 8k context: about 150 GiB a replica


def test_a_replica_spans_the_tensor_parallel_size_its_memory_needs_on_one_node() -> None:
    decision = place(D, spec(model=SEVENTY_B), fleet(cluster("a")))
    (assignment,) = decision.assignments
    assert (assignment.cluster, assignment.product) == ("default/a", "H100-80GB")
    assert assignment.gpus_per_replica == 4
    assert decision.gpus == 4
    assert decision.need_gib > 140


def test_a_replica_never_spans_nodes() -> None:
    small_nodes = cluster("a", nodes=[{"product": "H100-80GB", "gpus": 2, "count": 4}])
    decision = place(D, spec(model=SEVENTY_B), fleet(small_nodes))
    assert decision.assignments == ()
    assert reasons(decision)["default/a"] == (
        "needs 4 H100-80GB GPUs on one node, largest node has 2"
    )


def test_free_gpus_are_counted_per_node() -> None:
    busy = cluster("a", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": 6, "count": 3}])
    decision = place(D, spec(model=SEVENTY_B), fleet(busy))
    assert reasons(decision)["default/a"] == (
        "needs 4 H100-80GB GPUs on one node, largest free is 2"
    )
    full = cluster("b", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": 8}])
    assert reasons(place(D, spec(), fleet(full)))["default/b"] == "no H100-80GB free"


def test_a_model_larger_than_eight_gpus_is_refused_with_its_size() -> None:
    decision = place(D, spec(model={"parameters": "405B"}), fleet(cluster("a", nodes=[
        {"product": "L4", "gpus": 8}
    ])))  # fmt: skip
    assert reasons(decision)["default/a"].startswith("needs ")
    assert reasons(decision)["default/a"].endswith("GiB per replica, more than 8 L4 GPUs hold")


def test_shared_devices_take_only_single_device_replicas() -> None:
    sliced = cluster(
        "a",
        nodes=[
            {"productLabel": "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb", "memoryMiB": 38146, "gpus": 2}
        ],
    )
    decision = place(D, spec(model={"parameters": "70B", "precision": "int4"}), fleet(sliced))
    assert reasons(decision)["default/a"] == (
        "needs 2 A100-80GB GPUs per replica; its devices are shared slices"
    )
    assert split(place(D, spec(), fleet(sliced))) == {"default/a": 1}


def test_region_environment_selector_and_product_constraints_explain_each_refusal() -> None:
    gold = {"environment": "prod", "labels": {"tier": "gold"}}
    clusters = fleet(
        cluster("us", region="us-east-1", **gold),
        cluster("dev", environment="dev", labels={"tier": "gold"}),
        cluster("gpu-l4", nodes=[{"product": "L4", "gpus": 4}], **gold),
        cluster("unlabelled", environment="prod"),
        cluster("down", ready=False, **gold),
        cluster("cpu", nodes=[], **gold),
        cluster("ok", **gold),
    )
    decision = place(
        D,
        spec(
            placement={
                "regions": ["eu-west-1"],
                "environment": "prod",
                "gpuProducts": ["H100-80GB", "A100-80GB"],
                "clusterSelector": {"matchLabels": {"tier": "gold"}},
            }
        ),
        clusters,
    )
    assert split(decision) == {"default/ok": 1}
    why = reasons(decision)
    assert why["default/us"] == "region us-east-1 not allowed (allowed: eu-west-1)"
    assert why["default/dev"] == "environment dev is not prod"
    assert why["default/gpu-l4"] == "L4 not allowed (allowed: H100-80GB, A100-80GB)"
    assert why["default/unlabelled"] == "labels do not match placement.clusterSelector"
    assert why["default/down"] == "cluster is not ready"
    assert why["default/cpu"] == "no GPU nodes"
    assert why["default/ok"].startswith("chosen: 1 x 1 H100-80GB; score ")


def test_environment_and_product_refusals() -> None:
    clusters = fleet(
        cluster("dev", environment="dev"),
        cluster("l4", environment="prod", nodes=[{"product": "L4", "gpus": 4}]),
        cluster("cpu", environment="prod", nodes=[]),
    )
    decision = place(
        D, spec(placement={"environment": "prod", "gpuProducts": ["H100-80GB"]}), clusters
    )
    assert reasons(decision) == {
        "default/cpu": "no GPU nodes",
        "default/dev": "environment dev is not prod",
        "default/l4": "L4 not allowed (allowed: H100-80GB)",
    }
    assert decision.message == "no cluster of the 3 seen can hold a replica (17.5 GiB)"


def test_lowest_cost_per_replica_wins_and_the_fleet_can_override_prices() -> None:
    clusters = [
        cluster("h100"),
        cluster("l40s", nodes=[{"product": "L40S", "gpus": 4}]),
    ]
    assert split(place(D, spec(), fleet(*clusters))) == {"default/l40s": 1}
    cheap_h100 = fleet(*clusters, gpuCostPerHour={"H100-80GB": 1.0})
    _, costs = load_fleet({"clusters": clusters, "gpuCostPerHour": {"H100-80GB": 1.0}})
    assert split(place(D, spec(), cheap_h100, costs=costs)) == {"default/h100": 1}
    without_cost = place(D, spec(preferences={"lowestCost": False}), fleet(*clusters))
    assert split(without_cost) == {"default/h100": 1}  # equal scores: the lower name


def test_region_preference_comes_before_cost() -> None:
    clusters = fleet(
        cluster("far", region="us-east-1", nodes=[{"product": "L4", "gpus": 1}]),
        cluster("near", region="eu-west-1"),
    )
    preferred = spec(preferences={"regions": ["eu-west-1", "us-east-1"]})
    decision = place(D, preferred, clusters)
    assert split(decision) == {"default/near": 1}
    assert reasons(decision)["default/far"].startswith("score 99.2 below the chosen 193.1")
    assert "region us-east-1 preference 2 of 2" in reasons(decision)["default/far"]


def test_replicas_pack_onto_the_best_cluster_or_spread_over_the_ranked_ones() -> None:
    clusters = fleet(cluster("a"), cluster("b"), cluster("c", nodes=[{"product": "L4", "gpus": 1}]))
    # the cheap L4 takes what it can, the rest packs onto the better of the equal H100s
    assert split(place(D, spec(replicas=4), clusters)) == {"default/c": 1, "default/a": 3}
    spread = place(D, spec(replicas=4, preferences={"spread": True}), clusters)
    assert split(spread) == {"default/a": 2, "default/b": 1, "default/c": 1}


def test_replicas_overflow_to_the_next_cluster_and_a_shortfall_is_reported() -> None:
    clusters = fleet(cluster("a", nodes=[{"product": "H100-80GB", "gpus": 8}]), cluster("b"))
    decision = place(D, spec(model=SEVENTY_B, replicas=5), clusters)
    assert split(decision) == {"default/a": 2, "default/b": 2}
    assert not decision.complete
    assert decision.message.endswith("; no room for more")


def test_reservations_of_other_placements_are_not_offered_again() -> None:
    base = fleet(cluster("a"), cluster("b"))
    first = place("team/first", spec(model=SEVENTY_B, replicas=2), base)
    assert split(first) == {"default/a": 2}
    after = replace(base, reservations=reservations_of("team/first", first))
    second = place(D, spec(model=SEVENTY_B), after)
    assert split(second) == {"default/b": 1}
    assert reasons(second)["default/a"] == "no H100-80GB free"
    # its own reservations do not block the deployment that holds them
    assert split(place("team/first", spec(model=SEVENTY_B, replicas=2), after)) == split(first)


def test_own_running_pods_count_as_free_for_the_deployment_holding_them() -> None:
    running = fleet(cluster("a", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": 8}]))
    held = replace(running, holdings=(Reservation(D, "default/a", "gpu", 8),))
    current = [Assignment("default/a", "H100-80GB", 4, 2, (("gpu", 2),))]
    decision = place(D, spec(model=SEVENTY_B, replicas=2), held, current=current)
    assert split(decision) == {"default/a": 2}
    assert reasons(decision)["default/a"].startswith("kept: 2 x 4 H100-80GB")
    assert split(place("team/other", spec(), held)) == {}


def test_a_placed_deployment_stays_when_another_cluster_becomes_better() -> None:
    clusters = fleet(cluster("a"), cluster("b", nodes=[{"product": "L40S", "gpus": 4}]))
    current = [Assignment("default/a", "H100-80GB", 1, 1, (("gpu", 1),))]
    decision = place(D, spec(), clusters, current=current)
    assert split(decision) == {"default/a": 1}
    assert reasons(decision)["default/a"].startswith("kept: ")
    assert reasons(decision)["default/b"].startswith(
        "score -1.85 above the kept -6.9, but a placed deployment does not move while its "
        "clusters hold it; "
    )


def test_small_capacity_changes_do_not_move_it() -> None:
    current = [Assignment("default/a", "H100-80GB", 1, 1, (("gpu", 1),))]
    for requested in range(8):
        a = cluster("a", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": requested}])
        b = cluster("b", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": 7 - requested}])
        decision = place(D, spec(), fleet(a, b), current=current)
        assert split(decision) == {"default/a": 1}, requested


def test_a_lost_cluster_re_places_only_its_replicas() -> None:
    current = [
        Assignment("default/a", "H100-80GB", 1, 1, (("gpu", 1),)),
        Assignment("default/gone", "H100-80GB", 1, 2, (("gpu", 2),)),
    ]
    decision = place(D, spec(replicas=3), fleet(cluster("a"), cluster("z")), current=current)
    assert split(decision) == {"default/a": 3}
    assert reasons(decision)["default/gone"] == "moved away: cluster is gone from the fleet"


def test_a_cluster_that_cannot_hold_it_any_more_loses_only_what_does_not_fit() -> None:
    current = [Assignment("default/a", "H100-80GB", 4, 2, (("gpu", 2),))]
    shrunk = cluster("a", nodes=[{"product": "H100-80GB", "gpus": 8, "requested": 4}])
    decision = place(D, spec(model=SEVENTY_B, replicas=2), fleet(shrunk, cluster("b")),
                     current=current)  # fmt: skip
    assert split(decision) == {"default/a": 1, "default/b": 1}
    assert "holds only 1 of its 2 replicas now" in reasons(decision)["default/a"]
    not_allowed = place(
        D, spec(model=SEVENTY_B, replicas=2, placement={"regions": ["us-east-1"]}),
        fleet(cluster("a"), cluster("us", region="us-east-1")), current=current,
    )  # fmt: skip
    assert split(not_allowed) == {"default/us": 2}
    assert reasons(not_allowed)["default/a"] == (
        "moved away: region eu-west-1 not allowed (allowed: us-east-1)"
    )


def test_scaling_down_keeps_the_first_placements() -> None:
    current = [
        Assignment("default/a", "H100-80GB", 1, 2, (("gpu", 2),)),
        Assignment("default/b", "H100-80GB", 1, 2, (("gpu", 2),)),
    ]
    decision = place(D, spec(replicas=3), fleet(cluster("a"), cluster("b")), current=current)
    assert split(decision) == {"default/a": 2, "default/b": 1}


def test_the_same_input_gives_the_same_decision() -> None:
    clusters = [
        cluster(f"c{i}", nodes=[{"product": "L4", "gpus": 1, "count": 2}]) for i in range(9)
    ]
    first = place(D, spec(replicas=7, preferences={"spread": True}), fleet(*clusters))
    again = place(D, spec(replicas=7, preferences={"spread": True}), fleet(*reversed(clusters)))
    assert first == again
    assert split(first) == {f"default/c{i}": 1 for i in range(7)}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"clusters": [{"name": "a", "nodes": [{"gpus": 8}]}]}, "fleet.clusters[0].nodes[0]"),
        (
            {"clusters": [{"name": "a", "nodes": [{"product": "B300", "gpus": 8}]}]},
            "fleet.clusters[0].nodes[0].product",
        ),
        (
            {"clusters": [{"name": "a", "nodes": [{"productLabel": "X-GPU", "gpus": 1}]}]},
            "fleet.clusters[0].nodes[0]",
        ),
        ({"clusters": [{"name": "a", "environment": "qa"}]}, "fleet.clusters[0].environment"),
        ({}, "fleet.clusters"),
    ],
)
def test_a_bad_fleet_file_names_the_field(data: dict[str, Any], path: str) -> None:
    from function.errors import SpecError

    with pytest.raises(SpecError) as caught:
        load_fleet(data)
    assert str(caught.value).startswith(path + ":"), str(caught.value)


def test_unknown_products_are_placed_by_their_memory_label() -> None:
    other = cluster("a", nodes=[{"productLabel": "NVIDIA-B200", "memoryMiB": 184320, "gpus": 8}])
    decision = place(D, spec(model=SEVENTY_B), fleet(other))
    assert [(a.product, a.gpus_per_replica) for a in decision.assignments] == [("NVIDIA-B200", 1)]


def test_capacity_nodes_are_only_gpu_nodes() -> None:
    capacity = ClusterCapacity("default/a", {}, (NodeCapacity("n", None, "X", 1, 2, 3),))
    assert capacity.free == 0
