"""`make demo`: the whole product on an emulated fleet, from one XR to a serving cluster.

1. ``aifleet serve --insecure`` starts on a free local port, as Crossplane's Development
   runtime would reach it, and the H100 example XR goes through it over real gRPC.
2. An emulated management cluster (`function.testing`) gets the XR; a miniature of
   Crossplane's composition loop (`function.testing.crossplane`) applies what the function
   returns: a Cluster API `Cluster` and an `AddonBundle`.
3. The emulator provisions the cluster (control plane, then GPU workers) and the reconciler,
   running in this process as it would in the sidecar, applies the add-ons to the new workload
   cluster in dependency order, each after its dependencies are healthy, the model last, once
   the GPU operator has made GPUs allocatable.
4. The XR's status follows the bundle's; the demo prints each transition, the final statuses,
   and proves that a second full resync writes nothing.
5. An `AIModelDeployment` is applied and the reconciler's placement controller places it on
   the fleet — the new cluster and two more Cluster API GPU clusters, their capacity read from
   watches of their Nodes and Pods — and serves it there (`function.demo.placement`); the
   phases, the decision and the reason for every cluster are printed from its status.
6. The seed's event scenario (`function.demo.events`): the workload cluster's GPU utilisation
   ConfigMap crosses 80 % and an EventTrigger deploys one more model server; below 80 % it is
   withdrawn. Both transitions are printed.
7. One XR of every kind (inference, training, edge on k3s and k0s) is rendered through the
   same server, and the inference XR in the crossplane and sveltos delivery modes
   (`function.demo.kinds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function.demo.events import show_events
from function.demo.kinds import show_kinds
from function.demo.placement import place_a_model
from function.fn.render import to_yaml
from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.model.input import parse_input
from function.model.objects import load_documents
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.timing import Timing
from function.testing import (
    EmulatedCluster,
    Fleet,
    install_capi_crds,
    workload_cluster_name,
)
from function.testing.crossplane import CompositionLoop, crd_from_xrd

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
XR_FILE = EXAMPLES / "xrs" / "h100-kserve.yaml"
INPUT_FILE = EXAMPLES / "input-offline.yaml"
BUNDLE_API, XR_API = "addons.aifleet.io/v1alpha1", "aifleet.io/v1alpha1"
STARTUP_TIMEOUT_SECONDS = 30
DEMO_TIMEOUT_SECONDS = 90


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SERVE = (sys.executable, "-m", "function.main", "serve", "--insecure", "--address")


@contextlib.contextmanager
def function_server(command: Sequence[str] = SERVE) -> Iterator[str]:
    """Run ``aifleet serve --insecure`` (or ``command`` ADDRESS) in a child process; yield its
    gRPC target once it accepts calls."""
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen([*command, address], cwd=ROOT, stdout=subprocess.DEVNULL)
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


def management_cluster(fleet: Fleet) -> EmulatedCluster:
    """An emulated management cluster with the CRDs Crossplane, CAPI and the package install."""
    mgmt = fleet.add_cluster("mgmt")
    install_capi_crds(mgmt)
    for plural in ("addonbundles", "eventsources", "eventtriggers"):
        crd = ROOT / "package" / "crds" / f"addons.aifleet.io_{plural}.yaml"
        mgmt.apply_manifests(crd.read_text(), field_manager="crossplane")
    deployments = ROOT / "package" / "crds" / "aifleet.io_aimodeldeployments.yaml"
    mgmt.apply_manifests(deployments.read_text(), field_manager="crossplane")
    xrd = load_documents([ROOT / "xrds" / "aiinferencecluster.yaml"])[0]
    mgmt.apply(crd_from_xrd(xrd), field_manager="crossplane")
    mgmt.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    return mgmt


class Timeline:
    """Prints what changed since the last look: XR phase, cluster readiness, add-on phases."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._seen: dict[str, str] = {}

    def note(self, key: str, value: str, text: str) -> None:
        """Print ``text`` when ``key`` takes a new ``value``."""
        if self._seen.get(key) != value:
            self._seen[key] = value
            print(f"  [{time.monotonic() - self._start:5.1f}s] {text}")

    def composed(self, xr: dict[str, Any], results: list[fnv1.Result]) -> None:
        """Note the XR's phase, with the function's word on it."""
        phase = str((xr.get("status") or {}).get("phase", "-"))
        said = "; ".join(r.message for r in results)
        self.note("xr", phase, f"AIInferenceCluster team-a/llama-eu: {phase} - {said}")

    def reconciled(self, bundle: dict[str, Any] | None) -> None:
        """Note every add-on phase change in the bundle's status."""
        for entry in ((bundle or {}).get("status") or {}).get("clusters", []):
            for addon in entry["addons"]:
                why = f" - {addon['message']}" if addon.get("message") else ""
                text = f"    add-on {addon['name']:<20} {addon['phase']}{why}"
                self.note(f"addon/{addon['name']}", addon["phase"], text)


async def converge(
    mgmt: EmulatedCluster, loop: CompositionLoop, timeline: Timeline
) -> dict[str, Any]:
    """Run the composition loop until the XR is Ready, watching the bundle in between."""
    deadline = time.monotonic() + DEMO_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        step = await asyncio.to_thread(
            loop.step, XR_API, "AIInferenceCluster", "llama-eu", "team-a"
        )
        timeline.reconciled(mgmt.find(BUNDLE_API, "AddonBundle", "llama-eu-addons", "team-a"))
        timeline.composed(step.xr, step.results)
        if (step.xr.get("status") or {}).get("phase") == "Ready":
            return step.xr
        for _ in range(4):  # Crossplane polls the XR; the bundle is watched more closely
            timeline.reconciled(mgmt.find(BUNDLE_API, "AddonBundle", "llama-eu-addons", "team-a"))
            await asyncio.sleep(0.05)
    raise TimeoutError("the example did not become Ready in time")


async def settle(app: ReconcilerApp, quiet: float = 0.5) -> None:
    """Wait until the reconciler has had nothing to do for ``quiet`` seconds."""
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < quiet:
        if len(app.queue) or app.queue.processing:
            idle_since = time.monotonic()
        await asyncio.sleep(0.05)


def summarize(mgmt: EmulatedCluster, workload: EmulatedCluster, xr: dict[str, Any]) -> None:
    """Print the final XR status and what the workload cluster now runs."""
    print("\nAIInferenceCluster status:")
    print(to_yaml({"status": xr["status"]}))
    kinds: dict[str, int] = {}
    for record in workload.writes.filter(field_manager="aifleet"):
        kinds[record.kind] = kinds.get(record.kind, 0) + 1
    print(f"Workload cluster {workload.name}: {sum(kinds.values())} objects applied by aifleet")
    print("  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for node in workload.list("v1", "Node"):
        gpus = (node.get("status") or {}).get("allocatable", {}).get("nvidia.com/gpu")
        product = node["metadata"].get("labels", {}).get("nvidia.com/gpu.product", "")
        print(f"  node {node['metadata']['name']}: {gpus or 0} GPUs {product}")


async def demo() -> None:
    """The whole loop; see the module docstring."""
    xr = load_documents([XR_FILE])[0]
    step_input = load_documents([INPUT_FILE])[0]
    with (
        Fleet(simulation_delay=0.25) as fleet,
        function_server() as target,
        tempfile.TemporaryDirectory() as cache,
    ):
        print(f"function-aifleet: aifleet serve at {target} (gRPC, Development runtime)")
        mgmt = management_cluster(fleet)
        mgmt.apply(xr, field_manager="kubectl")
        print(f"kubectl apply -f {XR_FILE.relative_to(ROOT)}  # into emulated cluster {mgmt.url}")
        settings = Settings(
            workers=8,
            chart_cache=Path(cache),
            charts_root=ROOT,
            probe_address=None,
            timing=Timing(waiting=0.2, gpu=0.3),
            placement=parse_input(step_input),
        )
        client = ApiAdapter(configuration_from_kubeconfig(mgmt.kubeconfig()))
        app = ReconcilerApp(settings, client)
        running = asyncio.create_task(app.run())
        try:
            await app.ready.wait()
            loop = CompositionLoop(mgmt, partial(run_function, target), step_input)
            ready = await converge(mgmt, loop, Timeline())
            workload = fleet[workload_cluster_name("mgmt", "team-a", "llama-eu")]
            summarize(mgmt, workload, ready)
            await settle(app)
            marks = (mgmt.writes.mark(), workload.writes.mark())
            app.reconciler.resync()
            await settle(app)
            writes = mgmt.writes.count(since=marks[0]) + workload.writes.count(since=marks[1])
            print(f"\nA second full resync wrote {writes} objects (hash-gated: nothing changed).")
            await place_a_model(mgmt, fleet)
            await show_events(mgmt, workload, "llama-eu")
            await asyncio.to_thread(show_kinds, partial(run_function, target))
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await client.close()


def main() -> None:
    """Entry point of ``python -m function.demo``."""
    asyncio.run(demo())


if __name__ == "__main__":
    main()
