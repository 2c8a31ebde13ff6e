"""`aifleet serve` answers RunFunction over a real gRPC channel, on both protocol versions."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from function.demo.run import function_server, run_function
from function.fn import wire
from function.fn.render import build_request
from function.fn.runner import FunctionRunner
from function.fn.server import configure_logging
from function.model.objects import load_documents

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with function_server() as address:
        yield address


def h100_request() -> fnv1.RunFunctionRequest:
    xr = load_documents([EXAMPLES / "xrs" / "h100-kserve.yaml"])[0]
    observed = load_documents([EXAMPLES / "observed" / "ready"])
    return build_request(xr, observed)


def test_response_over_grpc_is_the_in_process_response(target: str) -> None:
    request = h100_request()
    over_the_wire = run_function(target, request)
    in_process = asyncio.run(FunctionRunner().RunFunction(request))
    assert over_the_wire == in_process
    assert over_the_wire.desired.resources["cluster"].ready == fnv1.READY_TRUE
    assert wire.to_dict(over_the_wire.desired.composite.resource)["status"]["phase"] == "Ready"


def test_v1beta1_protocol_is_served(target: str) -> None:
    request = fnv1beta1.RunFunctionRequest.FromString(h100_request().SerializeToString())
    with grpc.insecure_channel(target) as channel:
        stub = grpcv1beta1.FunctionRunnerServiceStub(channel)
        response = stub.RunFunction(request, timeout=30)
    assert sorted(response.desired.resources) == ["addon-bundle", "cluster"]


def test_bad_spec_is_a_fatal_result_not_a_grpc_error(target: str) -> None:
    request = h100_request()
    spec = request.observed.composite.resource.fields["spec"].struct_value
    spec.fields["gpu"].struct_value.fields["product"].string_value = "RTX-4090"
    response = run_function(target, request)
    assert [(r.severity, r.reason) for r in response.results] == [
        (fnv1.SEVERITY_FATAL, "InvalidSpec")
    ]
    assert "spec.gpu.product: unsupported value 'RTX-4090'" in response.results[0].message
    assert not response.desired.resources


def test_unexpected_failure_is_a_fatal_result_not_a_grpc_error(target: str) -> None:
    request = h100_request()
    metadata = request.observed.composite.resource.fields["metadata"].struct_value
    metadata.fields["name"].number_value = 7  # no API server would let this through
    response = run_function(target, request)
    assert [(r.severity, r.reason) for r in response.results] == [
        (fnv1.SEVERITY_FATAL, "InternalError")
    ]


def length_delimited(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, as an encoder writes it."""
    return wire._varint(field << 3 | 2) + wire._varint(len(payload)) + payload


def test_a_request_nested_beyond_protobufs_limit_is_a_fatal_result_not_a_grpc_error(
    target: str,
) -> None:
    # A Go client such as Crossplane encodes 40 levels without complaint; Python's protobuf
    # runtime refuses to build or decode them, so the request is written here by hand.
    xr = load_documents([EXAMPLES / "xrs" / "h100-kserve.yaml"])[0]
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(40):
        deep = {"a": deep}
    xr["spec"]["addons"]["values"] = {"monitoring": deep}
    fields = fnv1.RunFunctionRequest.DESCRIPTOR.fields_by_name
    raw = length_delimited(
        fields["meta"].number, fnv1.RequestMeta(tag="deep-xr").SerializeToString()
    ) + length_delimited(
        fields["observed"].number,
        length_delimited(1, length_delimited(1, wire.encode_struct(xr))),  # composite.resource
    )
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction",
            request_serializer=lambda b: b,
            response_deserializer=fnv1.RunFunctionResponse.FromString,
        )
        response = call(raw, timeout=30)
    assert response.meta.tag == "deep-xr"
    assert [(r.severity, r.reason) for r in response.results] == [
        (fnv1.SEVERITY_FATAL, "InvalidRequest")
    ]
    assert "the XR's spec may nest at most 24 levels" in response.results[0].message
    assert not response.desired.resources


def test_an_internal_error_logs_its_traceback_without_local_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = h100_request()
    request.observed.composite.resource.fields["metadata"].struct_value.fields[
        "name"
    ].number_value = 7
    configure_logging(debug=False)
    try:
        response = asyncio.run(FunctionRunner().RunFunction(request))
    finally:
        structlog.reset_defaults()
    assert [r.reason for r in response.results] == ["InternalError"]
    assert response.results[0].message == (
        "internal error: ValidationError: 1 validation error for ObjectRef"
    )
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["msg"] == "composition failed" and line["level"] == "error"
    [exception] = line["exception"]
    assert exception["exc_type"] == "ValidationError"
    frames = exception["frames"]
    assert frames[0]["name"] == "RunFunction" and frames[0]["filename"].endswith("runner.py")
    assert all("locals" not in frame for frame in frames)
    assert "llama" not in json.dumps(line)  # nothing of the request
