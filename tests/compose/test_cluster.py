"""The Cluster API Cluster: who owns the GPU pool's size, the autoscaler or the topology."""

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from function.compose.providers import ClusterRequest
from function.compose.providers.capi import compose_cluster
from function.compose.sizing import size_pool
from function.errors import SpecError
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


def test_the_example_aws_clusterclass_declares_every_variable_the_cluster_sets() -> None:
    """Cluster API's topology webhook refuses a variable its ClusterClass does not declare,
    or a value outside the variable's schema."""
    path = Path(__file__).parents[2] / "examples" / "clusterclasses" / "gpu-cluster-aws.yaml"
    clusterclass = yaml.safe_load(path.read_text())
    declared = {
        v["name"]: v["schema"]["openAPIV3Schema"] for v in clusterclass["spec"]["variables"]
    }
    spec = parse_xr_spec(
        {
            "region": "eu-west-1",
            "capi": {"infrastructure": "aws"},
            "gpu": {"product": "H100-80GB", "minNodes": 1, "maxNodes": 1},
            "models": [{"name": "m", "parameters": "70B", "source": "hf://org/m"}],
        }
    )
    cluster = compose_cluster(
        ClusterRequest("c1", "team-a", spec, size_pool(spec), FunctionInput())
    )
    topology = cluster["spec"]["topology"]
    set_here = list(topology["variables"])
    for deployment in topology["workers"]["machineDeployments"]:
        set_here += deployment.get("variables", {}).get("overrides", [])
    assert {"instanceType": "p5.48xlarge"}.items() <= {
        v["name"]: v["value"] for v in set_here
    }.items()
    for variable in set_here:
        assert variable["name"] in declared, variable["name"]
        jsonschema.validate(variable["value"], declared[variable["name"]])
    classes = {d["class"] for d in clusterclass["spec"]["workers"]["machineDeployments"]}
    assert {d["class"] for d in topology["workers"]["machineDeployments"]} <= classes


def test_a_machine_the_cloud_lacks_is_a_spec_error_at_the_gpu_field() -> None:
    spec = parse_xr_spec(
        {
            "region": "westeurope",
            "capi": {"infrastructure": "azure"},
            "gpu": {"product": "L4"},
            "models": [{"name": "m", "parameters": "8B", "source": "hf://org/m"}],
        }
    )
    with pytest.raises(SpecError) as caught:
        compose_cluster(ClusterRequest("c1", "team-a", spec, size_pool(spec), FunctionInput()))
    assert [e.path for e in caught.value.errors] == ["spec.gpu.product"]
    assert "offers no L4" in str(caught.value)
    assert "spec.capi.machineType" in str(caught.value)
