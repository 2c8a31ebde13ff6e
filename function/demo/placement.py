"""The demo's placement step: one AIModelDeployment placed on the fleet by the reconciler.

Two more Cluster API clusters join the new H100 cluster: an edge cluster of single-L4 nodes in
eu-central-1 and an A100 cluster in us-east-1, provisioned by the emulator's simulation and
given a ready GPU operator (`function.testing.gpu_fleet`). The example deployment
(``examples/placement/demo-llama-70b-fp8.yaml``) is applied to the management cluster; the
reconciler's placement controller, already running in the demo, reads each cluster's capacity
from watches of its Nodes and Pods, decides, delivers the model as an AddonBundle and writes
the status. The demo prints the phases as they change, then the decision and the reason for
every cluster from that status (`function.placement.explain.render_status`).
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from function.model.common import parse
from function.model.deployment import AIModelDeploymentStatus
from function.model.objects import load_documents
from function.placement.explain import render_status
from function.testing import EmulatedCluster, Fleet, workload_cluster_name
from function.testing.gpu_fleet import capi_gpu_cluster, equip, gpus_allocatable

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_FILE = ROOT / "examples" / "placement" / "demo-llama-70b-fp8.yaml"
NAMESPACE = "team-a"
EXISTING_CLUSTERS = {
    # name: (region, GFD product label, GPUs per node, nodes)
    "edge-l4": ("eu-central-1", "NVIDIA-L4", 1, 3),
    "us-a100": ("us-east-1", "NVIDIA-A100-SXM4-80GB", 8, 1),
}
API_VERSION, KIND = "aifleet.io/v1alpha1", "AIModelDeployment"
TIMEOUT_SECONDS = 90


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _gpu_nodes(cluster: EmulatedCluster) -> int:
    return len([n for n in cluster.list("v1", "Node") if "-gpu-" in n["metadata"]["name"]])


async def add_gpu_clusters(mgmt: EmulatedCluster, fleet: Fleet) -> None:
    """Create the other clusters and wait until their GPUs are allocatable."""
    for name, (region, product, gpus, nodes) in EXISTING_CLUSTERS.items():
        labels = {"aifleet.io/region": region}
        cluster = capi_gpu_cluster(name, NAMESPACE, labels, product, gpus, nodes)
        mgmt.apply(cluster, field_manager="kubectl")
    for name, (_, _, _, nodes) in EXISTING_CLUSTERS.items():
        workload_name = workload_cluster_name(mgmt.name, NAMESPACE, name)
        await _until(partial(operator.contains, fleet, workload_name), f"cluster {name}")
        workload = fleet[workload_name]
        await _until(lambda: _gpu_nodes(workload) == nodes, f"GPU nodes of {name}")  # noqa: B023
        equip(workload)
        await _until(partial(gpus_allocatable, workload, nodes), f"GPUs of {name}")


async def place_a_model(mgmt: EmulatedCluster, fleet: Fleet) -> AIModelDeploymentStatus:
    """Apply the example deployment and print what the placement controller decides."""
    await add_gpu_clusters(mgmt, fleet)
    doc = load_documents([DEPLOYMENT_FILE])[0]
    name = str(doc["metadata"]["name"])
    mgmt.apply(doc, field_manager="kubectl")
    print(f"\nkubectl apply -f {DEPLOYMENT_FILE.relative_to(ROOT)}  # placed by the reconciler")
    start = time.monotonic()
    seen: str | None = None
    deadline = start + TIMEOUT_SECONDS
    while True:
        obj = mgmt.find(API_VERSION, KIND, name, NAMESPACE) or {}
        raw = obj.get("status") or {}
        phase = raw.get("phase")
        if phase and phase != seen:
            seen = phase
            print(f"  [{time.monotonic() - start:5.1f}s] AIModelDeployment {NAMESPACE}/{name}: "
                  f"{phase} - {raw.get('message', '')}")  # fmt: skip
        if phase == "Serving":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{NAMESPACE}/{name} did not become Serving: {raw!r}")
        await asyncio.sleep(0.05)
    status = parse(AIModelDeploymentStatus, raw, root="status")
    print(render_status(f"{NAMESPACE}/{name}", status), end="")
    return status
