"""GPU sizing: memory per replica, tensor parallelism, node packing, and the errors."""

from typing import Any

import pytest

from function.compose.sizing import GIB, replica_need_bytes, size_pool
from function.errors import SpecError
from function.model.xr import ModelSpec, parse_xr_spec


def spec(gpu: dict[str, Any], *models: dict[str, Any]) -> Any:
    return parse_xr_spec(
        {
            "region": "eu-west-1",
            "capi": {"infrastructure": "aws"},
            "gpu": gpu,
            "models": [{"source": f"hf://org/{m['name']}", **m} for m in models],
        }
    )


def model(**fields: Any) -> ModelSpec:
    return ModelSpec.model_validate({"name": "m", "source": "hf://org/m", **fields})


def test_need_is_weights_plus_kv_cache_plus_overhead() -> None:
    # Llama 3.1 8B: 16 GB of fp16 weights; KV 2*32*8*128*2 B/token * 8192 tokens = 1 GiB.
    need = replica_need_bytes(model(parameters="8B", contextLength=8192))
    assert need == pytest.approx((16e9 + 2 * 32 * 8 * 128 * 2 * 8192) * 1.1)
    assert replica_need_bytes(model(parameters="8B", precision="fp8")) < need / 1.8
    assert replica_need_bytes(model(parameters="8B", concurrency=4)) > need + 3 * GIB


@pytest.mark.parametrize(
    ("product", "parameters", "precision", "devices"),
    [
        ("L4", "8B", "fp16", 1),
        ("H100-80GB", "70B", "fp16", 4),  # 146 GiB over 72 usable GiB: 3, rounded up to 4
        ("H100-80GB", "70B", "fp8", 2),
        ("H200-141GB", "70B", "fp8", 1),
        ("A100-40GB", "70B", "int4", 2),
        ("H200-141GB", "405B", "fp8", 4),
    ],
)
def test_tensor_parallel_size(product: str, parameters: str, precision: str, devices: int) -> None:
    pool = size_pool(
        spec({"product": product}, {"name": "m", "parameters": parameters, "precision": precision})
    )
    assert pool.models[0].devices_per_replica == devices
    assert pool.models[0].memory_utilization == 0.9


def test_replicas_are_packed_onto_nodes_whole() -> None:
    # Three 4-GPU replicas on 8-GPU nodes: two per node, so two nodes.
    pool = size_pool(
        spec(
            {"product": "H100-80GB", "maxNodes": 4},
            {"name": "m", "parameters": "70B", "replicas": 3},
        )
    )
    assert (pool.nodes, pool.total_gpus, pool.allocatable_per_node) == (2, 16, 8)


def test_min_nodes_holds_even_without_models() -> None:
    assert size_pool(spec({"product": "L4", "minNodes": 2})).nodes == 2
    assert size_pool(spec({"product": "L4", "minNodes": 0})).nodes == 0


def test_time_slicing_shares_memory_and_multiplies_devices() -> None:
    pool = size_pool(
        spec(
            {"product": "T4", "sharing": "time-slicing", "replicasPerGpu": 4},
            {"name": "a", "parameters": "1.2B", "contextLength": 4096, "replicas": 3},
        )
    )
    assert (pool.devices_per_gpu, pool.allocatable_per_node, pool.nodes) == (4, 4, 1)
    assert pool.models[0].memory_utilization == 0.22  # 0.9 / 4, rounded down
    assert pool.node_labels["nvidia.com/gpu.product"] == "Tesla-T4-SHARED"


def test_time_slicing_refuses_a_model_larger_than_its_share() -> None:
    with pytest.raises(SpecError) as err:
        size_pool(
            spec({"product": "T4", "sharing": "time-slicing"}, {"name": "m", "parameters": "3B"})
        )
    assert err.value.errors[0].path == "spec.models[0]"
    assert "does not fit one time-slicing device of T4" in err.value.errors[0].message


def test_mig_devices_and_labels() -> None:
    pool = size_pool(
        spec(
            {"product": "A100-80GB", "sharing": "mig", "migProfile": "1g.10gb", "perNode": 8},
            {"name": "m", "parameters": "1.2B", "replicas": 7},
        )
    )
    assert (pool.devices_per_gpu, pool.allocatable_per_node, pool.nodes) == (7, 56, 1)
    assert pool.node_labels == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb",
        "nvidia.com/gpu.memory": "9536",
    }


def test_too_large_names_the_products_it_fits_on() -> None:
    with pytest.raises(SpecError) as err:
        size_pool(spec({"product": "L4", "perNode": 8}, {"name": "big", "parameters": "405B"}))
    (error,) = err.value.errors
    assert error.path == "spec.models[0]"
    assert error.message.endswith(
        "does not fit 8 x L4 on one node; GPU products it fits on: H200-141GB"
    )


def test_more_nodes_than_max_nodes() -> None:
    with pytest.raises(SpecError) as err:
        size_pool(
            spec({"product": "L4", "maxNodes": 2}, {"name": "m", "parameters": "8B", "replicas": 3})
        )
    assert str(err.value) == (
        "spec.gpu.maxNodes: the models need 3 GPU nodes of 1 x L4; maxNodes is 2"
    )
