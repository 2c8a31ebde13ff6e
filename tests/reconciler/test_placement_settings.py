"""Placement's Input and GPU cost table from the reconciler's command line, and their effect.

``aifleet reconcile --placement-input FILE --gpu-costs H100-80GB=0.5`` gives placement the
Composition's Input (chart sources, ``gpuCostPerHour``) with the flag's prices over it; on the
emulator the cheaper H100s then win a deployment that prefers the lowest cost over the A100s
the catalog's table would pick.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from function.model.input import CatalogSettings, FunctionInput
from function.model.xr import GpuProduct
from function.reconciler.cli import placement_settings
from tests.install.test_commands import dry_parse
from tests.reconciler.harness import NAMESPACE, running
from tests.reconciler.placement_harness import (
    add_cluster,
    deployment,
    phase,
    placed_on,
    reasons,
    wait_deployment,
)

INPUT = """\
apiVersion: aifleet.fn.crossplane.io/v1beta1
kind: Input
catalog:
  repository: file://examples/charts
gpuCostPerHour:
  H100-80GB: 5.0
  L4: 0.6
"""


def test_the_input_file_and_the_flag_make_the_placement_settings(tmp_path: Path) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(INPUT)
    settings = placement_settings(path, "H100-80GB=4.25, A100-80GB=3")
    assert settings.catalog.repository == "file://examples/charts"
    assert settings.gpu_cost_per_hour == {
        GpuProduct.H100_80GB: 4.25,  # the flag wins over the Input
        GpuProduct.L4: 0.6,
        GpuProduct.A100_80GB: 3.0,
    }
    assert placement_settings(None, "") == FunctionInput()


def test_the_command_line_takes_both_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = tmp_path / "input.yaml"
    path.write_text(INPUT)
    args = ["reconcile", "--placement-input", str(path), "--gpu-costs", "L4=0.5"]
    name, ctx = dry_parse(args)
    assert name == "reconcile"
    assert (ctx.params["placement_input"], ctx.params["gpu_costs"]) == (path, "L4=0.5")


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        ("B200=9", "'B200=9' is not PRODUCT=USD with a product among T4, L4, A10G"),
        ("H100-80GB", "'H100-80GB' is not PRODUCT=USD"),
        ("H100-80GB=cheap", "'H100-80GB=cheap' is not PRODUCT=USD"),
        ("L4=-1", "'L4=-1': a cost is a finite number of USD, not negative"),
        ("L4=inf", "'L4=inf': a cost is a finite number of USD, not negative"),
    ],
)
def test_a_bad_cost_names_the_flag_and_the_value(costs: str, message: str) -> None:
    with pytest.raises(click.BadParameter) as refused:
        placement_settings(None, costs)
    assert refused.value.param_hint == "--gpu-costs"
    assert message in refused.value.message


def test_a_bad_input_file_names_the_flag_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "input.yaml"
    path.write_text("gpuCostPerHour:\n  B200: 9\n")
    with pytest.raises(click.BadParameter) as refused:
        placement_settings(path, "")
    assert refused.value.param_hint == "--placement-input"
    assert str(path) in refused.value.message
    assert "input.gpuCostPerHour" in refused.value.message
    path.write_text(INPUT + "---\n" + INPUT)
    with pytest.raises(click.BadParameter, match="expected one Input document, found 2"):
        placement_settings(path, "")


async def test_the_cost_table_decides_where_the_controller_places(tmp_path: Path) -> None:
    offline = CatalogSettings(repository="file://examples/charts")
    cheap_h100 = FunctionInput(catalog=offline, gpu_cost_per_hour={GpuProduct.H100_80GB: 0.5})
    async with running(tmp_path, placement=cheap_h100) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        await add_cluster(h, "us-a100", "us-east-1", "NVIDIA-A100-SXM4-80GB", 8)
        h.mgmt.create(deployment("llama-8b", "8B", preferences={"lowestCost": True}))
        placed = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(placed) == [f"{NAMESPACE}/eu-h100"]
        why = reasons(placed)
        assert why[f"{NAMESPACE}/eu-h100"].endswith("$0.50/h per replica, room for 8")
        assert why[f"{NAMESPACE}/us-a100"] == (
            "score -3.7 below the chosen -0.5; score -3.7: $3.70/h per replica, room for 8"
        )
