"""The function's gRPC server: the SDK's runtime pieces, with a request decoder of our own.

The SDK's server decodes a request with ``RunFunctionRequest.FromString`` before any of our
code runs, and a request the protobuf runtime cannot decode — an XR whose spec nests deeper
than upb's limit of 100 messages (about 30 levels of maps and lists), which a Go client such
as Crossplane encodes without complaint — becomes a gRPC error, not a result. Here the
decoder turns such a request into `Undecodable`, holding the request's ``meta`` (read from
the wire on its own), and the handler answers it with a FATAL result, as `function.fn.runner` does
for every other failure. Both protocol versions, v1 and v1beta1, share one handler: their
messages are the same on the wire.

`serve` starts the server (TLS unless ``insecure``, reflection, graceful stop on SIGTERM);
`run` takes the SDK's standard command-line options (`crossplane.function.cli`), which
``aifleet serve`` offers. `function.fn.runner.FunctionRunner` does the work. `configure_logging`
writes JSON lines as the SDK does, but tracebacks without the values of local variables: the
SDK's default would log each frame's locals, among them the request and the observed
resources' connection details (Secret data).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from crossplane.function import runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import reflection

from function.fn.runner import FunctionRunner, fatal_response

SERVICES = tuple(
    module.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name
    for module in (fnv1, fnv1beta1)
)
SHUTDOWN_GRACE_SECONDS = 5


@dataclass(frozen=True)
class Undecodable:
    """A request the protobuf runtime refused to decode, and why."""

    meta: fnv1.RequestMeta
    reason: str


def decode_request(data: bytes) -> fnv1.RunFunctionRequest | Undecodable:
    """The request, or `Undecodable` with its meta when the protobuf runtime refuses it."""
    try:
        request: fnv1.RunFunctionRequest = fnv1.RunFunctionRequest.FromString(data)
    except DecodeError as err:
        return Undecodable(_meta(data), str(err))
    return request


def _meta(data: bytes) -> fnv1.RequestMeta:
    """Field 1 (``meta``) of an encoded request, read without decoding the other fields."""
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            field, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, pos = _varint(data, pos)
            elif wire_type == 1:
                pos += 8
            elif wire_type == 5:
                pos += 4
            elif wire_type == 2:
                size, pos = _varint(data, pos)
                if field == 1:
                    meta: fnv1.RequestMeta = fnv1.RequestMeta.FromString(data[pos : pos + size])
                    return meta
                pos += size
            else:
                break
    except (DecodeError, IndexError):
        pass
    return fnv1.RequestMeta()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


class Handler:
    """RunFunction over gRPC: undecodable requests answered with a FATAL result."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    async def run(
        self, request: fnv1.RunFunctionRequest | Undecodable, context: grpc.aio.ServicerContext
    ) -> fnv1.RunFunctionResponse:
        """Run the function, or refuse the request it cannot read."""
        if isinstance(request, Undecodable):
            self.runner.log.error(
                "request could not be decoded", tag=request.meta.tag, reason=request.reason
            )
            return fatal_response(
                fnv1.RunFunctionRequest(meta=request.meta),
                "InvalidRequest",
                f"cannot decode the request ({request.reason}): a value in the XR or the "
                "observed resources nests deeper than protobuf allows; the XR's spec may nest "
                "at most 24 levels of maps and lists",
            )
        return await self.runner.RunFunction(request, context)


def add_to_server(runner: FunctionRunner, server: grpc.aio.Server) -> None:
    """Register RunFunction of both protocol versions, and server reflection."""
    handler = grpc.unary_unary_rpc_method_handler(
        Handler(runner).run,
        request_deserializer=decode_request,
        response_serializer=fnv1.RunFunctionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, {"RunFunction": handler}) for name in SERVICES]
    )
    reflection.enable_server_reflection((reflection.SERVICE_NAME, *SERVICES), server)


def serve(
    runner: FunctionRunner,
    address: str,
    *,
    credentials: grpc.ServerCredentials | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]] = (),
) -> None:
    """Serve ``runner`` on ``address`` until SIGTERM."""
    if credentials is None and not insecure:
        raise ValueError("no TLS credentials: give a certificates directory, or --insecure")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = grpc.aio.server(options=options)
    add_to_server(runner, server)
    if insecure:
        server.add_insecure_port(address)
    else:
        server.add_secure_port(address, credentials)
    loop.add_signal_handler(
        signal.SIGTERM, lambda: asyncio.ensure_future(server.stop(grace=SHUTDOWN_GRACE_SECONDS))
    )

    async def until_stopped() -> None:
        await server.start()
        await server.wait_for_termination()

    try:
        loop.run_until_complete(until_stopped())
    finally:
        loop.run_until_complete(server.stop(grace=SHUTDOWN_GRACE_SECONDS))
        loop.close()


def run(
    runner: FunctionRunner,
    *,
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
) -> None:
    """`serve` with the SDK's standard options (message sizes in MiB)."""
    configure_logging(debug=debug)
    send = max_send_message_size or max_recv_message_size
    serve(
        runner,
        address,
        credentials=runtime.load_credentials(tls_certs_dir) if tls_certs_dir else None,
        insecure=insecure,
        options=[
            ("grpc.max_receive_message_length", max_recv_message_size * 1024 * 1024),
            ("grpc.max_send_message_length", send * 1024 * 1024),
        ],
    )


def configure_logging(*, debug: bool) -> None:
    """JSON lines (human-readable lines with ``debug``), tracebacks without local values."""
    processors: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.processors.CallsiteParameterAdder(
            {
                structlog.processors.CallsiteParameter.FILENAME,
                structlog.processors.CallsiteParameter.LINENO,
            }
        ),
    ]
    if debug:
        renderer = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
        structlog.configure(
            processors=[*processors, structlog.processors.TimeStamper(fmt="iso"), renderer]
        )
        return
    tracebacks = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    structlog.configure(
        processors=[
            *processors,
            structlog.processors.ExceptionRenderer(tracebacks),
            structlog.processors.TimeStamper(key="ts"),
            structlog.processors.EventRenamer(to="msg"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
