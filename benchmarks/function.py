"""RunFunction over gRPC: this function against the SDK's documented way and a bare echo.

Three servers run side by side, each in its own process, and answer the same request — one
example XR of each kind (the H100 AIInferenceCluster, the AITrainingCluster, the GPU
EdgeAICluster) observed with its Cluster available and the status of the last run, which is
what Crossplane sends for a settled XR on every poll:

* ``aifleet``   — ``aifleet serve``: `function.fn.runner` with the codec of `function.fn.wire`.
* ``sdk-way``   — the same `compose`, decoded with ``resource.struct_to_dict`` and encoded with
  ``resource.dict_to_struct``, as the SDK documents, on the SDK's runtime.
* ``echo``      — a bare ``grpc.aio`` server returning the serialized response bytes: the floor.

All three must return the same response. The client sends raw bytes over one channel per
server; rounds alternate between servers so drift hits all alike. It prints p50/p99 latency of
sequential calls, requests/s with several calls in flight, and the ratios — for the settled
XR sent again and again, and for a new spec on every call — per kind.

    python benchmarks/function.py [--calls 2000] [--in-flight 8] [--seconds 4] [--kind training]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from crossplane.function import resource, response, runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.compose import CompositeResource, compose  # noqa: E402
from function.demo.run import function_server  # noqa: E402
from function.errors import SpecError  # noqa: E402
from function.fn import runner as fn  # noqa: E402 - the repository root must be importable first
from function.fn.render import build_request  # noqa: E402
from function.model.input import parse_input  # noqa: E402
from function.model.objects import load_documents  # noqa: E402

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
SERVERS = ("aifleet", "sdk-way", "echo")
EXAMPLES = {
    # kind: (example XR, its Composition)
    "inference": ("h100-kserve.yaml", "aiinferencecluster.yaml"),
    "training": ("training-h100.yaml", "aitrainingcluster.yaml"),
    "edge": ("edge-factory-k0s.yaml", "edgeaicluster.yaml"),
}


def benchmark_requests(
    revisions: int = 0, kind: str = "inference"
) -> list[fnv1.RunFunctionRequest]:
    """The example of ``kind`` as Crossplane observes it once settled: its Cluster available
    (the H100 example's add-ons healthy too), status from the last run.

    With ``revisions``, that many requests whose specs differ in a label, so none repeats.
    """
    xr_file, composition_file = EXAMPLES[kind]
    xr = load_documents([ROOT / "examples" / "xrs" / xr_file])[0]
    observed = load_documents([ROOT / "examples" / "observed" / "ready"])
    composition = load_documents([ROOT / "compositions" / composition_file])[0]
    step = composition["spec"]["pipeline"][0]["input"]
    first = asyncio.run(fn.FunctionRunner().RunFunction(build_request(xr, observed, step)))
    xr["status"] = resource.struct_to_dict(first.desired.composite.resource)["status"]
    if not revisions:
        return [build_request(xr, observed, step)]
    requests = []
    for revision in range(revisions):
        xr["spec"].setdefault("labels", {})["revision"] = str(revision)
        requests.append(build_request(xr, observed, step))
    return requests


class SdkWayRunner(grpcv1.FunctionRunnerServiceServicer):
    """The same composition, with the conversions the SDK documents."""

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: Any = None
    ) -> fnv1.RunFunctionResponse:
        """Compose one XR, converting whole Structs to and from dicts."""
        rsp = response.to(req)
        xr = resource.struct_to_dict(req.observed.composite.resource)
        observed = {
            name: resource.struct_to_dict(r.resource) for name, r in req.observed.resources.items()
        }
        metadata = xr.get("metadata", {})
        try:
            composition = compose(
                CompositeResource(
                    api_version=xr.get("apiVersion", ""),
                    kind=xr.get("kind", ""),
                    name=metadata.get("name", ""),
                    namespace=metadata.get("namespace"),
                    labels=metadata.get("labels", {}),
                    spec=xr.get("spec", {}),
                    phase=xr.get("status", {}).get("phase", ""),
                ),
                observed,
                parse_input(resource.struct_to_dict(req.input)),
            )
        except SpecError as err:
            response.fatal(rsp, f"invalid spec: {err}")
            return rsp
        for name, composed in composition.resources.items():
            desired = rsp.desired.resources[name]
            desired.resource.CopyFrom(resource.dict_to_struct(composed.body))
            desired.ready = fnv1.READY_TRUE if composed.ready else fnv1.READY_FALSE
        resource.update(
            rsp.desired.composite, resource.dict_to_struct({"status": composition.status})
        )
        for condition in composition.conditions:
            fn._add_condition(rsp, condition)
        for result in composition.results:
            fn._add_result(rsp, result)
        return rsp


async def serve_echo(address: str, payload: bytes) -> None:
    """A gRPC server that answers RunFunction with fixed bytes, parsing nothing."""
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "apiextensions.fn.proto.v1.FunctionRunnerService",
        {"RunFunction": grpc.unary_unary_rpc_method_handler(lambda request, context: payload)},
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    await server.start()
    await server.wait_for_termination()


def serve(kind: str, address: str, example: str) -> None:
    """Run one of the benchmark's servers in this process."""
    if kind == "sdk-way":
        runtime.serve(SdkWayRunner(), address, creds=None, insecure=True)
    else:
        (request,) = benchmark_requests(kind=example)
        payload = asyncio.run(fn.FunctionRunner().RunFunction(request)).SerializeToString()
        asyncio.run(serve_echo(address, payload))


def server(kind: str, example: str) -> AbstractContextManager[str]:
    """Start a server in a child process; its address once it accepts calls."""
    if kind == "aifleet":
        return function_server()
    command = (sys.executable, __file__, "--serve", kind, "--kind", example, "--address")
    return function_server(command)


@dataclass
class Measurement:
    """What one server did in one scenario."""

    latencies: list[float] = field(default_factory=list)
    calls: int = 0
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        """Latency in milliseconds at quantile ``q``."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rps(self) -> float:
        """Requests per second with several calls in flight."""
        return self.calls / self.seconds


def sequential(call: Callable[[bytes], bytes], payloads: list[bytes], calls: int) -> list[float]:
    """Latency of each of ``calls`` back-to-back calls, in seconds."""
    latencies = []
    for payload in itertools.islice(itertools.cycle(payloads), calls):
        start = time.perf_counter()
        call(payload)
        latencies.append(time.perf_counter() - start)
    return latencies


def in_flight(rpc: Any, payloads: list[bytes], width: int, seconds: float) -> tuple[int, float]:
    """Calls completed in ``seconds`` while keeping ``width`` calls in flight."""
    source = itertools.cycle(payloads)
    pending = [rpc.future(next(source)) for _ in range(width)]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pending.pop(0).result()
        done += 1
        pending.append(rpc.future(next(source)))
    for future in pending:
        future.result()
    return done, time.perf_counter() - start


SCENARIOS = ("steady", "new-spec")
DISTINCT_SPECS = 1100
"""More specs than the function memoises (512 XRs, 1024 encodings), so none is reused."""
ROUNDS = 5


def run(calls: int, width: int, seconds: float, example: str) -> dict[tuple[str, str], Measurement]:
    """Measure every server in both scenarios, alternating, and check they answer alike."""
    steady = [r.SerializeToString() for r in benchmark_requests(kind=example)]
    changing = [r.SerializeToString() for r in benchmark_requests(DISTINCT_SPECS, example)]
    workloads = {"steady": steady, "new-spec": changing}
    results = {(kind, scenario): Measurement() for kind in SERVERS for scenario in SCENARIOS}
    with ExitStack() as stack:
        rpcs = {}
        for kind in SERVERS:
            address = stack.enter_context(server(kind, example))
            channel = stack.enter_context(grpc.insecure_channel(address))
            rpcs[kind] = channel.unary_unary(METHOD)
        answers = [fnv1.RunFunctionResponse.FromString(rpc(steady[0])) for rpc in rpcs.values()]
        if any(answer != answers[0] for answer in answers):
            raise SystemExit("the servers do not return the same response")
        for rpc in rpcs.values():
            sequential(rpc, steady, calls // 10)  # warm up
        for _ in range(ROUNDS):
            for scenario, payloads in workloads.items():
                for kind, rpc in rpcs.items():
                    measured = results[(kind, scenario)]
                    measured.latencies += sequential(rpc, payloads, calls // ROUNDS)
                    done, elapsed = in_flight(rpc, payloads, width, seconds / ROUNDS)
                    measured.calls += done
                    measured.seconds += elapsed
    return results


def report(
    results: dict[tuple[str, str], Measurement], calls: int, width: int, size: int, example: str
) -> str:
    """The table and the ratios."""
    lines = [
        f"RunFunction over gRPC, {example} example ({EXAMPLES[example][0]}), response {size} "
        "bytes; per server and scenario "
        f"{calls} sequential calls, then {width} in flight",
        "  steady:   the same settled XR on every call (what Crossplane sends each poll)",
        "  new-spec: a different spec on every call (nothing can be reused)",
        f"{'scenario':<9} {'server':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}",
    ]
    for scenario in SCENARIOS:
        for kind in SERVERS:
            m = results[(kind, scenario)]
            lines.append(
                f"{scenario:<9} {kind:<8} {m.percentile(0.5):8.3f} {m.percentile(0.99):8.3f} "
                f"{m.rps:8.0f}"
            )
    for scenario in SCENARIOS:
        ours, sdk, echo = (results[(kind, scenario)] for kind in SERVERS)
        lines.append(
            f"{example} {scenario}: aifleet vs sdk-way "
            f"{sdk.percentile(0.5) / ours.percentile(0.5):.2f}x "
            f"lower p50, {sdk.percentile(0.99) / ours.percentile(0.99):.2f}x lower p99, "
            f"{ours.rps / sdk.rps:.2f}x the req/s; vs echo "
            f"{ours.percentile(0.5) / echo.percentile(0.5):.2f}x the p50, "
            f"{ours.rps / echo.rps:.2f}x the req/s"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark, or (internally) one of its servers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per server")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrent calls for req/s")
    parser.add_argument("--seconds", type=float, default=4.0, help="req/s window per server")
    parser.add_argument(
        "--kind", choices=tuple(EXAMPLES), action="append", help="XR kinds (default: all)"
    )
    parser.add_argument("--serve", choices=("sdk-way", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = args.kind or list(EXAMPLES)
    if args.serve:
        serve(args.serve, args.address, kinds[0])
        return
    for example in kinds:
        (request,) = benchmark_requests(kind=example)
        size = len(asyncio.run(fn.FunctionRunner().RunFunction(request)).SerializeToString())
        results = run(args.calls, args.in_flight, args.seconds, example)
        print(report(results, args.calls, args.in_flight, size, example), flush=True)


if __name__ == "__main__":
    main()
