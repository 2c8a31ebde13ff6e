"""`make demo`: render the example inference cluster through a real gRPC call to the function.

Like ``crossplane render`` with the Development runtime: start ``aifleet serve --insecure`` on a
free local port (`function_server`), send the example XR with each observed state of
``examples/observed`` over a gRPC channel (`run_function`), and print the first answer in
``crossplane render``'s format and how the phase moves as the cluster comes up.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import wire
from function.render import build_request, format_response, load_documents, step_input

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
XR = EXAMPLES / "xrs" / "h100-kserve.yaml"
COMPOSITION = ROOT / "compositions" / "aiinferencecluster.yaml"
STAGES = ("provisioning", "installing", "ready")
STARTUP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def function_server() -> Iterator[str]:
    """Run ``aifleet serve --insecure`` in a child process; yield its gRPC target."""
    address = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "function.main", "serve", "--insecure", "--address", address]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_SECONDS)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=STARTUP_TIMEOUT_SECONDS)


def run_function(target: str, request: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """One RunFunction call over a fresh gRPC channel, as Crossplane makes it."""
    with grpc.insecure_channel(target) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)  # type: ignore[no-untyped-call]
        response: fnv1.RunFunctionResponse = stub.RunFunction(
            request, timeout=STARTUP_TIMEOUT_SECONDS
        )
        return response


def main() -> None:
    """Render the H100 example over gRPC, then follow it through the observed stages."""
    xr = load_documents([XR])[0]
    step = step_input(load_documents([COMPOSITION])[0])
    with function_server() as target:
        print(f"# function-aifleet (Development runtime) at {target}")
        print(f"# crossplane render {XR.relative_to(ROOT)} {COMPOSITION.relative_to(ROOT)}")
        rendered = format_response(xr, run_function(target, build_request(xr, [], step)))
        print(rendered.fatal or rendered.text, end="")
        print("# the same XR as Cluster API and the reconciler make progress:")
        for stage in STAGES:
            observed = load_documents([EXAMPLES / "observed" / stage])
            rsp = run_function(target, build_request(xr, observed, step))
            status = wire.to_dict(rsp.desired.composite.resource).get("status", {})
            events = "; ".join(f"{r.reason}: {r.message}" for r in rsp.results)
            print(f"#   observed {stage:<13} -> phase {status.get('phase')}  ({events})")


if __name__ == "__main__":
    main()
