"""Placement: decisions per second on a 1,000-cluster fleet against brute-force scorers.

The fleet has ``--clusters`` clusters in four regions, each with a pool of two nodes of every
one of the catalog's eight GPU products and a seeded random share of GPUs already requested.
Deployments of several sizes (8B to 70B, fp16/fp8, with region, product and environment
constraints) are placed by `function.placement.decide.place` and, side by side in the same
process, by the two scorers of ``tests/placement/bruteforce.py``: `best_cluster` checks the
constraints, sizes the replica and scores it for every node of every cluster afresh and takes
the best node's cluster; `reference_place` is placement written the straightforward way (every
cluster sorted, grouped, sized and explained on every call). Before timing, `place` must return
the very decision of `reference_place` (assignments, every cluster's score and reason) and the
cluster of `best_cluster` for every deployment (checked), so the ratios measure the work saved
by indexing the snapshot once, pruning the products no node can take and writing reasons only
when read, not a different answer.

`place()` is timed three ways: on the same snapshot (its index cached), with every cluster's
reason read afterwards (what writing ``status.candidates`` costs), and on a new
`FleetCapacity` of the same clusters per decision (the placement controller's case: it builds
the fleet per reconcile from cluster capacities cached until their Nodes or Pods change).

Then, on the emulator with the real reconciler (`benchmarks/_placement_e2e.py`): the time from
an `AIModelDeployment` created to its model add-on healthy on a ready cluster, median over
``--runs``, beside the same AddonBundle applied directly in the same run.

    python benchmarks/placement.py [--clusters 1000] [--seconds 3] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.catalog.gpus import GPUS  # noqa: E402
from function.model.deployment import AIModelDeploymentSpec, parse_deployment_spec  # noqa: E402
from function.placement.capacity import (  # noqa: E402
    ClusterCapacity,
    FleetCapacity,
    NodeCapacity,
)
from function.placement.decide import Decision, place  # noqa: E402
from tests.placement.bruteforce import best_cluster, reference_place  # noqa: E402

REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "ap-south-1")
ENVIRONMENTS = ("dev", "staging", "prod")


def make_fleet(clusters: int, seed: int = 7) -> FleetCapacity:
    """Clusters x 8 GPU products x 2 nodes, with seeded random requests."""
    rng = random.Random(seed)
    out = []
    for i in range(clusters):
        nodes = []
        for gpu in GPUS.values():
            for n in range(2):
                requested = rng.randint(0, gpu.per_node)
                name = f"{gpu.product.value.lower()}-{n}"
                nodes.append(
                    NodeCapacity(name, gpu.product, gpu.label, gpu.memory_mib, gpu.per_node,
                                 requested)
                )  # fmt: skip
        labels = {
            "aifleet.io/region": REGIONS[i % len(REGIONS)],
            "aifleet.io/environment": ENVIRONMENTS[i % len(ENVIRONMENTS)],
        }
        out.append(
            ClusterCapacity(f"fleet/c{i:04d}", labels, tuple(sorted(nodes, key=lambda n: n.name)))
        )
    return FleetCapacity(tuple(out))


def deployments() -> list[AIModelDeploymentSpec]:
    """Single-replica deployments of several sizes and constraints."""
    src = "hf://org/m"
    return [
        parse_deployment_spec({"model": {"name": "a", "parameters": "8B", "source": src}}),
        parse_deployment_spec(
            {
                "model": {"name": "b", "parameters": "70B", "source": src},
                "placement": {"regions": ["eu-west-1", "eu-central-1"], "environment": "prod"},
                "preferences": {"regions": ["eu-central-1", "eu-west-1"]},
            }
        ),
        parse_deployment_spec(
            {
                "model": {"name": "c", "parameters": "70B", "precision": "fp8", "source": src},
                "placement": {"gpuProducts": ["H100-80GB", "H200-141GB", "A100-80GB"]},
            }
        ),
        parse_deployment_spec(
            {
                "model": {"name": "d", "parameters": "13B", "source": src},
                "preferences": {"lowestCost": False, "regions": ["us-east-1"]},
            }
        ),
    ]


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=20, help="End-to-end runs (0: none).")
    args = parser.parse_args()
    fleet = make_fleet(args.clusters)
    specs = deployments()
    many = parse_deployment_spec(
        {"model": {"name": "e", "parameters": "8B", "source": "hf://org/m"}, "replicas": 64,
         "preferences": {"spread": True}}
    )  # fmt: skip
    for spec in [*specs, many]:
        decision = place("bench/d", spec, fleet)
        assert decision == reference_place("bench/d", spec, fleet), spec.model.name
        if spec.replicas == 1:
            chosen = decision.assignments[0].cluster if decision.assignments else None
            assert chosen == best_cluster(spec, fleet), (spec.model.name, chosen)
    nodes = sum(len(c.nodes) for c in fleet.clusters)
    print(f"fleet: {args.clusters} clusters x {len(GPUS)} GPU products, {nodes} GPU nodes")
    print("same decision and reasons as the straightforward scorer, same cluster as the")
    print("node-by-node brute force, for every deployment: yes")
    cycle = iter(range(10**12))

    def spec_() -> AIModelDeploymentSpec:
        return specs[next(cycle) % len(specs)]

    def read(decision: Decision) -> object:
        return [v.reason for v in decision.verdicts]

    rates = {
        "place()": rate(lambda: place("bench/d", spec_(), fleet), args.seconds),
        "place(), every reason read": rate(
            lambda: read(place("bench/d", spec_(), fleet)), args.seconds
        ),
        "place(), new FleetCapacity": rate(
            lambda: place("bench/d", spec_(), FleetCapacity(fleet.clusters)), args.seconds
        ),
        "straightforward scorer": rate(
            lambda: reference_place("bench/d", spec_(), fleet), args.seconds
        ),
        "node-by-node brute force": rate(lambda: best_cluster(spec_(), fleet), args.seconds),
    }
    brute, plain = rates["node-by-node brute force"], rates["straightforward scorer"]
    for name, per_second in rates.items():
        print(
            f"{name + ':':30} {per_second:8.1f} decisions/s   x{per_second / brute:6.2f} brute"
            f" force   x{per_second / plain:6.2f} straightforward"
        )
    ours = rate(lambda: place("bench/e", many, fleet), args.seconds)
    theirs = rate(lambda: reference_place("bench/e", many, fleet), args.seconds)
    print(
        f"64 replicas spread: place() {ours:8.1f} decisions/s, straightforward {theirs:8.1f}"
        f" (x{ours / theirs:.2f})"
    )
    if args.runs:
        from benchmarks._placement_e2e import report

        report(args.runs)


if __name__ == "__main__":
    main()
