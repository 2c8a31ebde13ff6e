"""GPU clusters and AIModelDeployments for the placement controller's emulator tests.

Clusters are Cluster API Clusters the simulation provisions, with one GPU machineDeployment
whose autoscaler annotations name the GPU count and product; `add_cluster` then installs a
ready ClusterPolicy in the workload cluster so the device plugin simulation labels the Nodes
and makes their GPUs allocatable, as the GPU operator would (`function.testing.gpu_fleet`).
`crossplane` plays Crossplane for the AIInferenceClusters placement provisions (the function
composes them in-process), and `Clock` is the reconciler's clock, moved forward by tests to run
out a ttl without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from function.errors import NotFoundError
from function.fn.runner import FunctionRunner
from function.model.input import CatalogSettings, FunctionInput
from function.model.objects import load_documents
from function.testing import EmulatedCluster
from function.testing.crossplane import CompositionLoop
from function.testing.gpu_fleet import capi_gpu_cluster, equip, gpus_allocatable
from tests.reconciler.harness import NAMESPACE, REPO, Harness, eventually

Obj = dict[str, Any]
XR_API = "aifleet.io/v1alpha1"
XR_KIND = "AIInferenceCluster"
OFFLINE = FunctionInput(catalog=CatalogSettings(repository="file://examples/charts"))
"""Every catalog chart from the offline stand-ins, as the demo's Input."""


def gpu_cluster(name: str, region: str, product_label: str, gpus: int, nodes: int = 1) -> Obj:
    """A Cluster API Cluster in ``region`` with ``nodes`` nodes of ``gpus`` GPUs each."""
    labels = {"aifleet.io/region": region}
    return capi_gpu_cluster(name, NAMESPACE, labels, product_label, gpus, nodes)


async def add_cluster(
    h: Harness, name: str, region: str, product_label: str, gpus: int, nodes: int = 1
) -> EmulatedCluster:
    """Create the Cluster, wait for its workload cluster, equip it, wait for its GPUs."""
    h.mgmt.create(gpu_cluster(name, region, product_label, gpus, nodes))
    workload = await h.wait_workload(name)
    await eventually(
        lambda: (
            len([n for n in workload.list("v1", "Node") if "-gpu-" in n["metadata"]["name"]])
            == nodes
        ),
        within=10,
        what=f"GPU nodes of {name}",
    )
    equip(workload)
    await eventually(
        lambda: gpus_allocatable(workload, nodes), within=10, what=f"allocatable GPUs on {name}"
    )
    return workload


def deployment(name: str, parameters: str, precision: str = "fp16", **spec: Any) -> Obj:
    """An AIModelDeployment of one vLLM model."""
    model = {
        "name": name,
        "parameters": parameters,
        "precision": precision,
        "source": f"hf://org/{name}",
    }
    return {
        "apiVersion": XR_API,
        "kind": "AIModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"model": model, **spec},
    }


async def wait_deployment(h: Harness, name: str, until: Any, within: float = 20.0) -> Obj:
    """Wait until the stored deployment satisfies ``until``."""
    found: list[Obj] = []

    def check() -> bool:
        obj = h.mgmt.find(XR_API, "AIModelDeployment", name, NAMESPACE)
        found[:] = [obj] if obj else []
        return obj is not None and bool(until(obj))

    await eventually(check, within=within, what=f"deployment {name}", last=found)
    return found[0]


def phase(obj: Obj) -> str | None:
    """The deployment's phase."""
    return (obj.get("status") or {}).get("phase")


def placed_on(obj: Obj) -> list[str]:
    """The clusters of the deployment's placements."""
    return [p["cluster"] for p in (obj.get("status") or {}).get("placements") or []]


def reasons(obj: Obj) -> dict[str, str]:
    """Each candidate's reason, by cluster."""
    return {c["cluster"]: c["reason"] for c in (obj.get("status") or {}).get("candidates") or []}


def charts_root() -> Path:
    """The repository root, where ``file://examples/charts`` resolves."""
    return Path(__file__).resolve().parents[2]


class Clock:
    """Wall-clock time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def now(self) -> datetime:
        """The time the reconciler sees."""
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.offset += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def crossplane(h: Harness, period: float = 0.1) -> AsyncIterator[list[str]]:
    """Compose every AIInferenceCluster of the namespace through the function, again and again,
    as Crossplane's composite controller would; yield the names of the XRs composed so far."""
    step_input = load_documents([REPO / "examples" / "input-offline.yaml"])[0]
    runner = FunctionRunner()
    loop = CompositionLoop(h.mgmt, lambda req: asyncio.run(runner.RunFunction(req)), step_input)
    composed: list[str] = []

    async def play() -> None:
        while True:
            for xr in h.mgmt.list(XR_API, XR_KIND, NAMESPACE):
                name = xr["metadata"]["name"]
                if xr["metadata"].get("deletionTimestamp") or not xr.get("spec", {}).get("region"):
                    continue
                with contextlib.suppress(NotFoundError):
                    await asyncio.to_thread(loop.step, XR_API, XR_KIND, name, NAMESPACE)
                if name not in composed:
                    composed.append(name)
            await asyncio.sleep(period)

    task = asyncio.create_task(play())
    try:
        yield composed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
