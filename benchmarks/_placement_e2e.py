"""Time from an AIModelDeployment created to its model add-on healthy, beside a plain bundle.

`benchmarks/placement.py` runs this on the emulator: a management cluster (as `function.demo`
sets it up) with one Cluster API GPU cluster the simulation provisions and whose GPU operator
makes eight H100s allocatable, and the real `ReconcilerApp` over HTTP with the offline chart
Input. Each run creates an `AIModelDeployment` of an 8B model and waits until the model add-on
of the bundle the placement controller made reports ``Healthy``, then deletes it and waits
until its bundle is gone. The baseline, interleaved run by run, creates that same bundle
(captured from the first placed run, under another name) directly: what placement costs on top
of delivering the add-on is the difference (reading capacity, deciding, writing the bundle).
Each run starts with no deployment in the namespace, so the placed one also pays for starting
the cluster's Node and Pod watches (they stop when the last deployment looking at it goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from function.demo.run import management_cluster
from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.model.input import CatalogSettings, FunctionInput
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.timing import Timing
from function.testing import EmulatedCluster, Fleet, workload_cluster_name
from function.testing.gpu_fleet import capi_gpu_cluster, equip, gpus_allocatable

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "team-a"
XR_API = "aifleet.io/v1alpha1"
BUNDLE_API = "addons.aifleet.io/v1alpha1"
CLUSTER = "gpu-1"
MODEL_ADDON = "model-llama-8b"
TIMEOUT = 60.0
Obj = dict[str, Any]


def deployment(name: str) -> Obj:
    """An AIModelDeployment of Llama 3.1 8B in FP8: one H100."""
    model = {
        "name": "llama-8b",
        "parameters": "8B",
        "precision": "fp8",
        "source": "hf://org/llama-8b",
    }
    return {
        "apiVersion": XR_API,
        "kind": "AIModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"model": model},
    }


def model_healthy(bundle: Obj | None) -> bool:
    """Whether the bundle reports the model add-on Healthy."""
    for cluster in ((bundle or {}).get("status") or {}).get("clusters") or []:
        for addon in cluster.get("addons") or []:
            if addon.get("name") == MODEL_ADDON and addon.get("phase") == "Healthy":
                return True
    return False


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` every 5 ms."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.005)


async def ready_fleet(fleet: Fleet) -> EmulatedCluster:
    """The management cluster with the GPU cluster provisioned and its GPUs allocatable."""
    mgmt = management_cluster(fleet)
    labels = {"aifleet.io/region": "eu-west-1"}
    cluster = capi_gpu_cluster(CLUSTER, NAMESPACE, labels, "NVIDIA-H100-80GB-HBM3", 8)
    mgmt.apply(cluster, field_manager="kubectl")
    name = workload_cluster_name("mgmt", NAMESPACE, CLUSTER)
    await until(lambda: name in fleet, "the workload cluster")
    workload = fleet[name]
    await until(
        lambda: any("-gpu-" in n["metadata"]["name"] for n in workload.list("v1", "Node")),
        "the GPU node",
    )
    equip(workload)
    await until(lambda: gpus_allocatable(workload, 1), "allocatable GPUs")
    return mgmt


async def measure(runs: int) -> dict[str, list[float]]:
    """Seconds to the model add-on Healthy, per run: placed, and the same bundle applied."""
    times: dict[str, list[float]] = {"placed": [], "direct": []}
    with Fleet(simulation=True) as fleet, tempfile.TemporaryDirectory() as cache:
        mgmt = await ready_fleet(fleet)
        settings = Settings(
            workers=4, chart_cache=Path(cache), charts_root=ROOT, probe_address=None,
            timing=Timing(waiting=0.05, gpu=0.1, status=0.02),
            placement=FunctionInput(catalog=CatalogSettings(repository="file://examples/charts")),
        )  # fmt: skip
        client = ApiAdapter(configuration_from_kubeconfig(mgmt.kubeconfig()))
        app = ReconcilerApp(settings, client)
        task = asyncio.create_task(app.run())
        captured: Obj | None = None
        try:
            await app.ready.wait()
            for run in range(runs):
                name = f"llama-{run:02d}"
                bundle_name = f"{name}-on-{CLUSTER}"
                start = time.perf_counter()
                mgmt.create(deployment(name))
                await until(
                    lambda n=bundle_name: model_healthy(  # type: ignore[misc]
                        mgmt.find(BUNDLE_API, "AddonBundle", n, NAMESPACE)
                    ),
                    f"{name} healthy",
                )
                times["placed"].append(time.perf_counter() - start)
                if captured is None:
                    captured = copy.deepcopy(
                        mgmt.get(BUNDLE_API, "AddonBundle", bundle_name, NAMESPACE)
                    )
                mgmt.delete(XR_API, "AIModelDeployment", name, NAMESPACE)
                await until(lambda n=bundle_name: mgmt.find(BUNDLE_API, "AddonBundle", n, NAMESPACE)  # type: ignore[misc]
                            is None, f"{name} withdrawn")  # fmt: skip

                direct = f"direct-{run:02d}"
                body = {"apiVersion": BUNDLE_API, "kind": "AddonBundle",
                        "metadata": {"name": direct, "namespace": NAMESPACE},
                        "spec": captured["spec"]}  # fmt: skip
                start = time.perf_counter()
                mgmt.create(body)
                await until(
                    lambda n=direct: model_healthy(  # type: ignore[misc]
                        mgmt.find(BUNDLE_API, "AddonBundle", n, NAMESPACE)
                    ),
                    f"{direct} healthy",
                )
                times["direct"].append(time.perf_counter() - start)
                mgmt.delete(BUNDLE_API, "AddonBundle", direct, NAMESPACE)
                await until(lambda n=direct: mgmt.find(BUNDLE_API, "AddonBundle", n, NAMESPACE)  # type: ignore[misc]
                            is None, f"{direct} withdrawn")  # fmt: skip
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.close()
    return times


def report(runs: int) -> None:
    """Print the medians side by side."""
    times = asyncio.run(measure(runs))
    placed, direct = (statistics.median(times[k]) for k in ("placed", "direct"))
    print(f"\ncreated to model add-on Healthy on a ready emulated cluster, median of {runs}:")
    print(f"  AIModelDeployment (placed):        {placed * 1000:7.1f} ms")
    print(f"  the same AddonBundle applied:      {direct * 1000:7.1f} ms")
    print(f"  ratio:                             {placed / direct:7.2f}x")
    spread = {k: (min(v) * 1000, max(v) * 1000) for k, v in times.items()}
    print("  range: placed {:.0f}-{:.0f} ms, direct {:.0f}-{:.0f} ms".format(
        *spread["placed"], *spread["direct"]))  # fmt: skip
