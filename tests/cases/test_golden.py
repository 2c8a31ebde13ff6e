"""Golden cases: a RunFunctionRequest in YAML → the exact RunFunctionResponse, in YAML.

Each ``tests/cases/*.yaml`` holds ``reason``, ``request`` and ``response`` in protobuf's JSON
mapping. The request goes through the real `FunctionRunner`; the response must match field
for field. After an intended change, regenerate the responses with
``AIFLEET_UPDATE_GOLDEN=1 pytest tests/cases`` and review the diff.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function.fn.runner import FunctionRunner

CASES = sorted(Path(__file__).parent.glob("*.yaml"))
UPDATE = os.environ.get("AIFLEET_UPDATE_GOLDEN") == "1"


def plain(value: Any) -> Any:
    """Protobuf's JSON mapping writes every Struct number as a float; Kubernetes means ints."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    return case


def sorted_maps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_maps(v) for v in value]
    return value


def dump(case: dict[str, Any]) -> str:
    """``reason``, ``request``, ``response`` in that order; maps sorted, so diffs stay small."""
    return yaml.safe_dump({k: sorted_maps(v) for k, v in case.items()}, sort_keys=False, width=100)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = load(path)
    request = json_format.ParseDict(case["request"], fnv1.RunFunctionRequest())
    response = asyncio.run(FunctionRunner().RunFunction(request))
    got = plain(json_format.MessageToDict(response))
    if UPDATE:
        case["response"] = got
        path.write_text(dump(case))
    assert got == case["response"], f"{path.name}: {case['reason']}"


def test_every_example_has_a_case() -> None:
    examples = Path(__file__).parents[2] / "examples" / "xrs"
    composites = [load(p)["request"]["observed"]["composite"]["resource"] for p in CASES]
    for example in sorted(examples.glob("*.yaml")):
        assert yaml.safe_load(example.read_text()) in composites, example.name


def test_every_family_kind_and_delivery_mode_has_a_composing_case() -> None:
    """Each XR kind on each provider family it allows, in each delivery mode, has a case
    that composes (no FATAL): edge sites are Cluster API only."""
    covered = set()
    for path in CASES:
        case = load(path)
        if any(r.get("severity") == "SEVERITY_FATAL" for r in case["response"].get("results", [])):
            continue
        xr = case["request"]["observed"]["composite"]["resource"]
        delivery = (case["request"].get("input") or {}).get("delivery", "reconciler")
        covered.add((xr["kind"], xr["spec"].get("provider", "capi"), delivery))
    families = {
        "AIInferenceCluster": ("capi", "eks", "gke", "aks"),
        "AITrainingCluster": ("capi", "eks", "gke", "aks"),
        "EdgeAICluster": ("capi",),
    }
    wanted = {
        (kind, family, delivery)
        for kind, allowed in families.items()
        for family in allowed
        for delivery in ("reconciler", "crossplane", "sveltos")
    }
    assert sorted(wanted - covered) == []
