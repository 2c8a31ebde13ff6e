"""RunFunction: decode the request, call the pure `function.compose.compose`, encode the answer.

This is the only module that speaks the Crossplane function protocol. It reads just the parts
of the request composition needs (`function.compose.observed_paths`), converts them with the
fast paths of `function.fn.wire`, and writes desired resources, their readiness, the XR status,
conditions and results. An invalid spec or Input becomes a FATAL result naming the field and
the allowed values; any other failure — encoding included — becomes a FATAL result with a
short message, its traceback logged: never a gRPC error.
"""

from __future__ import annotations

from typing import Any

import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from google.protobuf import struct_pb2

from function.compose import (
    CompositeResource,
    Composition,
    Condition,
    Result,
    Severity,
    compose,
    observed_paths,
)
from function.errors import SpecError
from function.fn import wire
from function.model.input import parse_input

_SEVERITY = {
    Severity.NORMAL: fnv1.SEVERITY_NORMAL,
    Severity.WARNING: fnv1.SEVERITY_WARNING,
    Severity.FATAL: fnv1.SEVERITY_FATAL,
}
_TARGET = fnv1.TARGET_COMPOSITE_AND_CLAIM


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """The composition function for AIInferenceCluster."""

    def __init__(self) -> None:
        """Create a runner with the SDK's structured logger."""
        self.log = logging.get_logger()

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Compose one XR."""
        rsp = response.to(req)
        try:
            composition = compose(
                decode_composite(req.observed.composite.resource),
                decode_observed(req.observed.resources),
                parse_input(wire.to_dict(req.input) if req.HasField("input") else {}),
            )
            encode(rsp, composition)
        except SpecError as err:
            return fatal_response(req, "InvalidSpec", f"invalid spec: {_cut(str(err))}")
        except Exception as err:  # a bug must not become a gRPC error for Crossplane
            self.log.exception("composition failed", tag=req.meta.tag)
            return fatal_response(req, "InternalError", f"internal error: {_describe(err)}")
        return rsp


MAX_MESSAGE = 1024
"""Characters of a FATAL result's message: the cause, not a dump of the user's value."""


def fatal_response(
    req: fnv1.RunFunctionRequest, reason: str, message: str
) -> fnv1.RunFunctionResponse:
    """A response to ``req`` holding one FATAL result (and nothing a failed encoding left
    half-written)."""
    rsp = response.to(req)
    _add_result(rsp, Result(Severity.FATAL, reason, message))
    return rsp


def _describe(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return _cut(f"{type(err).__name__}: {text}" if text else type(err).__name__)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def decode_composite(xr: struct_pb2.Struct) -> CompositeResource:
    """The observed XR, as far as composition reads it."""
    fields = wire.fields_to_dict(xr, ("apiVersion", "kind", "metadata", "spec"))
    metadata: dict[str, Any] = fields.get("metadata") or {}
    status = xr.fields["status"].struct_value.fields if "status" in xr.fields else {}
    return CompositeResource(
        api_version=fields.get("apiVersion", ""),
        kind=fields.get("kind", ""),
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace"),
        labels=metadata.get("labels") or {},
        spec=fields.get("spec") or {},
        phase=status["phase"].string_value if "phase" in status else "",
    )


def decode_observed(resources: Any) -> dict[str, dict[str, Any]]:
    """The fields composition reads of each observed composed resource that exists."""
    observed = {}
    for name in resources:
        fields = observed_paths(name)
        if fields is not None:
            observed[name] = wire.fields_to_dict(resources[name].resource, fields)
    return observed


def encode(rsp: fnv1.RunFunctionResponse, composition: Composition) -> None:
    """Write desired resources, readiness, XR status, conditions and results."""
    for name, composed in composition.resources.items():
        desired = rsp.desired.resources[name]
        wire.fill(desired.resource, composed.body, shared=True)
        desired.ready = fnv1.READY_TRUE if composed.ready else fnv1.READY_FALSE
    xr = rsp.desired.composite.resource
    xr.fields["status"].struct_value.MergeFromString(wire.encode_struct(composition.status))
    for condition in composition.conditions:
        _add_condition(rsp, condition)
    for result in composition.results:
        _add_result(rsp, result)


def _add_condition(rsp: fnv1.RunFunctionResponse, condition: Condition) -> None:
    rsp.conditions.append(
        fnv1.Condition(
            type=condition.type,
            status=fnv1.STATUS_CONDITION_TRUE if condition.status else fnv1.STATUS_CONDITION_FALSE,
            reason=condition.reason,
            message=condition.message,
            target=_TARGET,
        )
    )


def _add_result(rsp: fnv1.RunFunctionResponse, result: Result) -> None:
    rsp.results.append(
        fnv1.Result(
            severity=_SEVERITY[result.severity],
            reason=result.reason,
            message=result.message,
            target=_TARGET,
        )
    )
