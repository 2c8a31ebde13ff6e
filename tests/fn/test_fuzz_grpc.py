"""Generated specs, plausible and hostile, through RunFunction: in process for many, over a real
gRPC channel for a sample. Every answer is a FATAL result naming a field under ``spec``, or a
composition — never an internal error, never a gRPC error."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import HealthCheck, given, settings

from function.demo.run import function_server, run_function
from function.fn.render import build_request
from function.fn.runner import FunctionRunner
from tests.specs import xr_specs

PROTOBUF_SAFE_DEPTH = 27
"""Deeper than the parser admits, shallow enough for the protobuf runtime to build the request."""


def request_for(spec: dict[str, Any]) -> fnv1.RunFunctionRequest:
    xr = {
        "apiVersion": "aifleet.io/v1alpha1",
        "kind": "AIInferenceCluster",
        "metadata": {"name": "fuzz", "namespace": "team"},
        "spec": spec,
    }
    return build_request(xr, [])


def judge_response(response: fnv1.RunFunctionResponse) -> str:
    fatal = [r for r in response.results if r.severity == fnv1.SEVERITY_FATAL]
    if fatal:
        assert [(r.reason, r.message.startswith("invalid spec: spec")) for r in fatal] == [
            ("InvalidSpec", True)
        ], fatal
        assert not response.desired.resources
        return "refused"
    assert sorted(response.desired.resources) == ["addon-bundle", "cluster"]
    assert response.desired.composite.resource.fields["status"].struct_value.fields["gpu"]
    return "composed"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xr_specs(max_depth=PROTOBUF_SAFE_DEPTH))
def test_in_process_run_function_answers_every_spec(spec: dict[str, Any]) -> None:
    response = asyncio.run(FunctionRunner().RunFunction(request_for(spec)))
    assert judge_response(response) in ("refused", "composed")


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with function_server() as address:
        yield address


def test_a_sample_over_grpc_answers_every_spec(target: str) -> None:
    outcomes: list[str] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(xr_specs(max_depth=PROTOBUF_SAFE_DEPTH))
    def over_grpc(spec: dict[str, Any]) -> None:
        outcomes.append(judge_response(run_function(target, request_for(spec))))

    over_grpc()
    assert len(outcomes) >= 40


def test_the_deepest_value_the_parser_admits_still_encodes() -> None:
    # The bundle carries Helm values a few levels below where the XR has them: the deepest
    # value admitted, with the bundle's own nesting, must still fit protobuf's limit.
    spec: dict[str, Any] = {
        "region": "eu-west-1",
        "capi": {"infrastructure": "aws"},
        "gpu": {"product": "L4"},
        "models": [{"name": "m", "parameters": "8B", "source": "hf://org/m"}],
    }
    value: dict[str, Any] = {"leaf": "x" * 5000}
    for _ in range(19):
        value = {"a": value}
    spec["addons"] = {"values": {"monitoring": value}}
    response = asyncio.run(FunctionRunner().RunFunction(request_for(spec)))
    assert judge_response(response) == "composed"
