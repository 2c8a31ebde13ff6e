"""The training and edge kinds: sizing rules and the add-ons each site gets."""

from pathlib import Path

import pytest
import yaml

from function.compose.addons import compose_bundle
from function.compose.kinds import kind_of
from function.compose.kinds.training import bytes_per_parameter
from function.model.input import FunctionInput
from function.model.training import Optimizer, TrainingPrecision

CHARTS = Path(__file__).parents[2] / "examples" / "charts"
EDGE = {
    "region": "site-1",
    "capi": {"infrastructure": "docker"},
    "model": {"name": "m", "parameters": "1B", "source": "ollama://m:1b"},
}


@pytest.mark.parametrize(
    ("precision", "optimizer", "expected"),
    [
        (TrainingPrecision.FP32, Optimizer.ADAMW, 16.0),  # 4 + 4 + 8, no master copy
        (TrainingPrecision.BF16, Optimizer.ADAMW, 16.0),  # 2 + 2 + 8 + 4
        (TrainingPrecision.FP16, Optimizer.SGD, 12.0),  # 2 + 2 + 4 + 4
        (TrainingPrecision.FP8, Optimizer.ADAM, 15.0),  # 1 + 2 (bf16 gradients) + 8 + 4
    ],
)
def test_training_state_per_parameter(
    precision: TrainingPrecision, optimizer: Optimizer, expected: float
) -> None:
    assert bytes_per_parameter(precision, optimizer) == expected


def test_training_nodes_follow_the_gpu_count() -> None:
    spec = {
        "region": "r",
        "capi": {"infrastructure": "aws"},
        "gpu": {"product": "H100", "count": 12, "maxNodes": 4},
        "model": {"name": "m", "parameters": "8B"},
    }
    work = kind_of("AITrainingCluster").workload("t", "ns", spec, FunctionInput())
    assert work.pool is not None
    assert (work.pool.nodes, work.pool.per_node) == (2, 8)
    assert work.status["training"]["gpus"] == 12


def test_an_edge_site_gets_the_gpu_stack_only_with_gpus() -> None:
    edge = kind_of("EdgeAICluster")
    cpu = edge.workload("s", "ns", EDGE, FunctionInput())
    gpu = edge.workload("s", "ns", {**EDGE, "gpu": {"product": "L4"}}, FunctionInput())
    assert cpu.wanted is not None and gpu.wanted is not None
    assert "gpu-operator" not in cpu.wanted and "nfd" not in cpu.wanted
    assert {"gpu-operator", "nfd"} <= set(gpu.wanted)
    cluster = cpu.plan.resources["cluster"]["spec"]["topology"]
    assert [p["name"] for p in cluster["workers"]["machineDeployments"]] == ["cpu"]
    cluster = gpu.plan.resources["cluster"]["spec"]["topology"]
    assert [p["name"] for p in cluster["workers"]["machineDeployments"]] == ["cpu", "gpu"]


def test_the_gpu_operator_of_an_edge_site_has_no_service_monitor_without_monitoring() -> None:
    edge = kind_of("EdgeAICluster")
    work = edge.workload("s", "ns", {**EDGE, "gpu": {"product": "L4"}}, FunctionInput())
    bundle, _ = compose_bundle(
        "s", "ns", work.spec, work.pool, FunctionInput(), work.plan.ref, wanted=work.wanted
    )
    operator = next(a for a in bundle["spec"]["addons"] if a["name"] == "gpu-operator")
    assert operator["helm"]["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is False


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        (
            "AITrainingCluster",
            {
                "region": "r",
                "capi": {"infrastructure": "aws"},
                "gpu": {"product": "H100", "count": 8},
                "model": {"name": "m", "parameters": "8B"},
            },
        ),
        ("EdgeAICluster", {**EDGE, "gpu": {"product": "L4"}, "edge": {"hub": "tls://h:7422"}}),
        ("EdgeAICluster", {**EDGE, "edge": {"broker": "mqtt"}}),
    ],
)
def test_stand_ins_know_every_top_level_value_the_kinds_set(kind: str, spec: dict) -> None:
    work = kind_of(kind).workload("c", "ns", spec, FunctionInput())
    bundle, _ = compose_bundle(
        "c",
        "ns",
        work.spec,
        work.pool,
        FunctionInput(),
        work.plan.ref,
        wanted=work.wanted,
        kind_values=work.kind_values,
        kind_addons=work.kind_addons,
    )
    for addon in bundle["spec"]["addons"]:
        helm = addon.get("helm")
        if helm:
            defaults = yaml.safe_load((CHARTS / helm["chart"] / "values.yaml").read_text()) or {}
            assert set(helm.get("values", {})) <= set(defaults), addon["name"]
