"""Capacity read from Node and Pod objects, the deployment's parser, and ``aifleet place``."""

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from function.errors import SpecError
from function.main import cli
from function.model.deployment import duration_seconds, parse_deployment_spec
from function.placement.capacity import cluster_capacity, product_of

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "placement"


def node(name: str, gpus: int | None, label: str | None, **labels: str) -> dict[str, Any]:
    meta_labels = {**labels, **({"nvidia.com/gpu.product": label} if label else {})}
    allocatable = {"cpu": "32", **({"nvidia.com/gpu": str(gpus)} if gpus is not None else {})}
    return {
        "metadata": {"name": name, "labels": meta_labels},
        "status": {"allocatable": allocatable},
    }


def pod(node_name: str | None, gpus: int, phase: str = "Running", init: int = 0) -> dict[str, Any]:
    limits = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "a", "resources": limits}, {"name": "b"}],
            "initContainers": [{"name": "i", "resources": {"requests": {"nvidia.com/gpu": init}}}],
        },
        "status": {"phase": phase},
    }


def test_capacity_comes_from_allocatable_gfd_labels_and_pod_requests() -> None:
    nodes = [
        node("gpu-1", 8, "NVIDIA-H100-80GB-HBM3", **{"nvidia.com/gpu.memory": "81559"}),
        node("gpu-0", 4, "NVIDIA-L40S"),
        node("cpu-0", None, None),
        node("sliced", 16, "NVIDIA-A100-SXM4-80GB-SHARED", **{"nvidia.com/gpu.replicas": "4"}),
    ]
    pods = [
        pod("gpu-1", 2),
        pod("gpu-1", 1, init=3),  # an init container asking more counts instead
        pod("gpu-1", 4, phase="Succeeded"),  # finished pods hold nothing
        pod(None, 8),  # not scheduled yet
    ]
    capacity = cluster_capacity("default/a", {"aifleet.io/region": "eu"}, nodes, pods)
    assert [
        (n.name, n.product_label, n.allocatable, n.requested, n.free) for n in capacity.nodes
    ] == [
        ("gpu-0", "NVIDIA-L40S", 4, 0, 4),
        ("gpu-1", "NVIDIA-H100-80GB-HBM3", 8, 5, 3),
        ("sliced", "NVIDIA-A100-SXM4-80GB-SHARED", 16, 0, 16),
    ]
    sliced = capacity.nodes[2]
    assert sliced.shared and sliced.memory_mib == 81920 // 4
    assert capacity.region == "eu" and capacity.free == 23


def test_product_labels_map_to_the_catalog_with_their_sharing() -> None:
    assert product_of("NVIDIA-H100-80GB-HBM3") == ("H100-80GB", False)
    assert product_of("NVIDIA-A100-SXM4-80GB-MIG-1g.10gb") == ("A100-80GB", True)
    assert product_of("Tesla-T4-SHARED") == ("T4", True)
    assert product_of("AMD-MI300X") == (None, False)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"model": {"name": "m", "parameters": "8B", "source": "hf://m"}, "replicas": 0},
         "spec.replicas"),
        ({"model": {"name": "m", "parameters": "8", "source": "hf://m"}}, "spec.model.parameters"),
        ({"model": {"name": "m", "parameters": "8B", "source": "hf://m"}, "ttl": "2 hours"},
         "spec.ttl"),
        ({"model": {"name": "m", "parameters": "8B", "source": "hf://m"},
          "placement": {"gpuProducts": ["B300"]}}, "spec.placement.gpuProducts[0]"),
        ({"model": {"name": "m", "parameters": "8B", "source": "hf://m"},
          "onNoCapacity": "Provision"}, "spec"),
        ({"model": {"name": "m", "parameters": "8B", "source": "hf://m"},
          "onNoCapacity": "Later"}, "spec.onNoCapacity"),
    ],
)  # fmt: skip
def test_a_bad_deployment_names_the_field(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_deployment_spec(spec)
    assert str(caught.value).startswith(path + ":"), str(caught.value)


def test_durations() -> None:
    assert duration_seconds("1d2h30m15s") == 86400 + 7200 + 1800 + 15


def test_place_prints_the_decision_and_reserves_gpus_for_the_next_deployment() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "place",
            str(EXAMPLES / "llama-70b.yaml"),
            str(EXAMPLES / "llama-8b-edge.yaml"),
            "--fleet",
            str(EXAMPLES / "fleet.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    first, second = result.output.split("\n\n")
    assert first.startswith("team-a/llama-70b: placed 2 of 2 replicas on team-a/eu-l40s")
    assert "team-a/us-a100      region us-east-1 not allowed" in first
    assert "needs 4 H100-80GB GPUs on one node, largest free is 2" in first
    assert second.startswith("team-a/llama-8b: placed 3 of 3 replicas on team-a/edge-l4")
    assert "team-a/eu-l40s      no L40S free" in second  # taken by the first deployment


def test_place_exits_2_when_a_deployment_does_not_fit(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n- {name: a, nodes: [{product: L4, gpus: 1}]}\n")
    result = CliRunner().invoke(
        cli, ["place", str(EXAMPLES / "llama-70b.yaml"), "--fleet", str(fleet)]
    )
    assert result.exit_code == 2
    assert "seen can hold a replica" in result.output
    assert (
        "default/a  region (none) not allowed (allowed: eu-west-1, eu-central-1)" in result.output
    )


def test_place_reports_a_bad_fleet_file_by_field(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n- {name: a, nodes: [{product: B300, gpus: 1}]}\n")
    result = CliRunner().invoke(
        cli, ["place", str(EXAMPLES / "llama-70b.yaml"), "--fleet", str(fleet)]
    )
    assert result.exit_code == 1
    assert "fleet.clusters[0].nodes[0].product: unsupported value 'B300'" in result.output
