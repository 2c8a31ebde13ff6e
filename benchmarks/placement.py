"""Placement: decisions per second on a 1,000-cluster fleet against a brute-force scorer.

The fleet has ``--clusters`` clusters in four regions, each with a pool of two nodes of every
one of the catalog's eight GPU products and a seeded random share of GPUs already requested.
Deployments of several sizes (8B to 70B, fp16/fp8, with region, product and environment
constraints) are placed by `function.placement.decide.place` and, side by side in the same
process, by a brute-force scorer: for every node of every cluster it checks the constraints,
sizes the replica from scratch and scores it, then takes the best node's cluster. The two must
choose the same cluster for every single-replica deployment (checked), so the ratio measures the
cost of grouping nodes by product and sizing once per group, not a different answer.

Then, on the emulator with the real reconciler (`benchmarks/_placement_e2e.py`): the time from
an `AIModelDeployment` created to its model add-on healthy on a ready cluster, median over
``--runs``, beside the same AddonBundle applied directly in the same run.

    python benchmarks/placement.py [--clusters 1000] [--seconds 3] [--runs 20]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.catalog.costs import gpu_hour_costs  # noqa: E402
from function.catalog.gpus import GPUS  # noqa: E402
from function.compose.sizing import (  # noqa: E402
    GPU_MEMORY_UTILIZATION,
    MIB,
    TENSOR_PARALLEL_SIZES,
    replica_need_bytes,
)
from function.model.deployment import AIModelDeploymentSpec, parse_deployment_spec  # noqa: E402
from function.placement.capacity import (  # noqa: E402
    ClusterCapacity,
    FleetCapacity,
    NodeCapacity,
)
from function.placement.decide import place  # noqa: E402

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


def brute_force(spec: AIModelDeploymentSpec, fleet: FleetCapacity) -> str | None:
    """The cluster of the best-scoring node, scoring every node of every cluster afresh."""
    costs = gpu_hour_costs()
    best: tuple[float, float, str] | None = None  # (-score, cost, cluster): lowest wins
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
            devices = math.ceil(need / (node.memory_mib * MIB * GPU_MEMORY_UTILIZATION))
            tp = next((s for s in TENSOR_PARALLEL_SIZES if s >= devices), None)
            if tp is None or tp > node.allocatable or node.free < tp or node.product is None:
                continue
            cost = round(tp * costs[node.product], 2)
            score = 0.0
            if prefs.regions:
                order = prefs.regions
                rank = order.index(cluster.region) if cluster.region in order else len(order)
                score += 100.0 * (len(order) - rank)
            if prefs.lowest_cost:
                score -= cost
            key = (-round(score, 2), cost, cluster.name)
            if best is None or key < best:
                best = key
    return best[2] if best else None


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
    for spec in specs:
        decision = place("bench/d", spec, fleet)
        chosen = decision.assignments[0].cluster if decision.assignments else None
        assert chosen == brute_force(spec, fleet), (spec.model.name, chosen)
    nodes = sum(len(c.nodes) for c in fleet.clusters)
    print(f"fleet: {args.clusters} clusters x {len(GPUS)} GPU products, {nodes} GPU nodes")
    print("same choice as the brute-force scorer for every deployment: yes")
    cycle = iter(range(10**12))

    def ours() -> object:
        return place("bench/d", specs[next(cycle) % len(specs)], fleet)

    def brute() -> object:
        return brute_force(specs[next(cycle) % len(specs)], fleet)

    ours_rate = rate(ours, args.seconds)
    brute_rate = rate(brute, args.seconds)
    print(f"place():      {ours_rate:8.1f} decisions/s (with explanations for every cluster)")
    print(f"brute force:  {brute_rate:8.1f} decisions/s")
    print(f"ratio:        {ours_rate / brute_rate:8.2f}x")
    many = parse_deployment_spec(
        {"model": {"name": "e", "parameters": "8B", "source": "hf://org/m"}, "replicas": 64,
         "preferences": {"spread": True}}
    )  # fmt: skip
    spread_rate = rate(lambda: place("bench/e", many, fleet), args.seconds)
    print(f"place() 64 replicas spread: {spread_rate:8.1f} decisions/s")
    if args.runs:
        from benchmarks._placement_e2e import report

        report(args.runs)


if __name__ == "__main__":
    main()
