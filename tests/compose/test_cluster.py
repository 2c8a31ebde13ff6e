"""The Cluster API Cluster: who owns the GPU pool's size, the autoscaler or the topology."""

from typing import Any

import pytest

from function.compose.providers import ClusterRequest
from function.compose.providers.capi import compose_cluster
from function.compose.sizing import size_pool
from function.model.input import FunctionInput
from function.model.xr import parse_xr_spec

MIN_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
MAX_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
GPU_COUNT = "capacity.cluster-autoscaler.kubernetes.io/gpu-count"


def gpu_pool(gpu: dict[str, Any], replicas: int = 1) -> dict[str, Any]:
    spec = parse_xr_spec(
        {
            "region": "eu-west-1",
            "capi": {"infrastructure": "aws"},
            "gpu": {"product": "L4", **gpu},
            "models": [
                {"name": "m", "parameters": "8B", "source": "hf://org/m", "replicas": replicas}
            ],
        }
    )
    request = ClusterRequest("c1", "team-a", spec, size_pool(spec), FunctionInput())
    cluster = compose_cluster(request)
    pools = cluster["spec"]["topology"]["workers"]["machineDeployments"]
    pool: dict[str, Any] = next(p for p in pools if p["name"] == "gpu")
    return pool


def test_a_pool_that_may_grow_is_left_to_the_autoscaler() -> None:
    pool = gpu_pool({"minNodes": 1, "maxNodes": 4})
    assert "replicas" not in pool
    annotations = pool["metadata"]["annotations"]
    assert (annotations[MIN_SIZE], annotations[MAX_SIZE]) == ("1", "4")
    assert annotations[GPU_COUNT] == "1"


def test_the_autoscalers_minimum_is_what_the_models_need() -> None:
    # Nine one-GPU replicas on 8-GPU L4 nodes need two nodes although minNodes is 1.
    pool = gpu_pool({"minNodes": 1, "maxNodes": 4, "perNode": 8}, replicas=9)
    assert "replicas" not in pool
    annotations = pool["metadata"]["annotations"]
    assert (annotations[MIN_SIZE], annotations[MAX_SIZE]) == ("2", "4")


@pytest.mark.parametrize(
    ("gpu", "replicas", "nodes"),
    [
        ({"minNodes": 2, "maxNodes": 2}, 1, 2),  # bounds pinned by the XR
        ({"minNodes": 1, "maxNodes": 2, "perNode": 8}, 9, 2),  # the models need every node
    ],
    ids=["min-equals-max", "models-need-max"],
)
def test_a_pool_that_cannot_grow_sets_replicas_and_no_bounds(
    gpu: dict[str, Any], replicas: int, nodes: int
) -> None:
    pool = gpu_pool(gpu, replicas)
    assert pool["replicas"] == nodes
    annotations = pool["metadata"]["annotations"]
    assert MIN_SIZE not in annotations and MAX_SIZE not in annotations
    assert GPU_COUNT in annotations  # the machines' shape is still described
