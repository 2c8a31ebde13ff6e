"""`make demo`, event-driven add-ons: GPU utilisation above 80 % brings one more model server.

The monitoring stack of the demo's workload cluster reports GPU utilisation in the ConfigMap
``monitoring/gpu-utilization``. The example EventSource (a Sveltos Lua rule) and EventTrigger
(`examples/events/`) are applied to the management cluster; the demo then moves utilisation
from 62 % to 87 % and back to 45 %, and prints each transition as the reconciler makes it:
the rule matches, the trigger instantiates a bundle, the extra model-server Deployment is
applied and healthy on the workload cluster — then the match ends and it is withdrawn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from function.testing import EmulatedCluster

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FILE = ROOT / "examples" / "lua" / "events" / "gpu-utilization-high" / "eventsource.yaml"
TRIGGER_FILE = ROOT / "examples" / "events" / "gpu-utilization-scale-up.yaml"
API = "addons.aifleet.io/v1alpha1"
NAMESPACE = "team-a"
TIMEOUT_SECONDS = 30.0


def report(mgmt: EmulatedCluster, workload: EmulatedCluster, deployment: str) -> dict[str, str]:
    """What the demo prints transitions of."""
    trigger = mgmt.find(API, "EventTrigger", "scale-up", NAMESPACE) or {}
    entries = (trigger.get("status") or {}).get("clusters") or []
    matching = [m["name"] for e in entries for m in e.get("matchingResources", [])]
    bundles = [
        b["metadata"]["name"]
        for b in mgmt.list(API, "AddonBundle", NAMESPACE)
        if (b["metadata"].get("labels") or {}).get("addons.aifleet.io/event-trigger") == "scale-up"
    ]
    ready: dict[str, Any] = next(
        (c for c in (trigger.get("status") or {}).get("conditions", []) if c["type"] == "Ready"),
        {},
    )
    live = workload.find("apps/v1", "Deployment", deployment, "serving")
    available = ((live or {}).get("status") or {}).get("availableReplicas") or 0
    return {
        "trigger": f"{ready.get('reason', '-')}: {ready.get('message', '')}",
        "matching": ", ".join(matching) or "none",
        "bundle": ", ".join(bundles) or "none",
        "deployment": f"{available} available" if live else "absent",
    }


async def follow(
    mgmt: EmulatedCluster,
    workload: EmulatedCluster,
    deployment: str,
    done: Callable[[dict[str, str]], bool],
    seen: dict[str, str],
) -> None:
    """Print every change of `report` (since ``seen``, updated) until ``done``."""
    start = time.monotonic()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        now = report(mgmt, workload, deployment)
        for key, value in now.items():
            if seen.get(key) != value:
                print(f"  [{time.monotonic() - start:5.2f}s] {key:<10} {value}")
        seen.update(now)
        if done(now):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the event scenario did not reach its state; last: {seen}")


def _reached(wanted: str, now: dict[str, str]) -> bool:
    """Whether the extra server is as ``wanted``, with its bundle there exactly while it is."""
    return now["deployment"] == wanted and (now["bundle"] == "none") == (wanted == "absent")


def set_utilization(workload: EmulatedCluster, value: str) -> None:
    """What the monitoring controller does: write the utilisation into its ConfigMap."""
    if workload.find("v1", "Namespace", "monitoring") is None:
        workload.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}
        )
    workload.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "gpu-utilization", "namespace": "monitoring"},
            "data": {"utilization": value},
        },
        field_manager="dcgm-exporter",
    )


def load(path: Path) -> dict[str, Any]:
    """The one document of ``path``, in the demo's namespace."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["metadata"]["namespace"] = NAMESPACE
    return doc


async def show_events(mgmt: EmulatedCluster, workload: EmulatedCluster, cluster: str) -> None:
    """The seed's scenario on the demo's cluster; see the module docstring."""
    deployment = f"{cluster}-extra-server"
    print("\nEvent-driven add-ons: GPU utilisation above 80% deploys one more model server")
    print(f"kubectl apply -f {SOURCE_FILE.relative_to(ROOT)} -f {TRIGGER_FILE.relative_to(ROOT)}")
    set_utilization(workload, "62%")
    mgmt.apply(load(SOURCE_FILE), field_manager="kubectl")
    mgmt.apply(load(TRIGGER_FILE), field_manager="kubectl")
    seen: dict[str, str] = {}
    await follow(mgmt, workload, deployment, lambda r: r["trigger"].startswith("Evaluated"), seen)
    for value, wanted in (("87%", "1 available"), ("45%", "absent")):
        print(f"monitoring/gpu-utilization on {cluster}: utilization={value}")
        set_utilization(workload, value)
        await follow(
            mgmt,
            workload,
            deployment,
            partial(_reached, wanted),
            seen,
        )
        live = workload.find("apps/v1", "Deployment", deployment, "serving")
        if live is not None:
            note = live["metadata"]["annotations"]["aifleet.io/triggered-by"]
            print(f"  Deployment serving/{deployment}: triggered by {note}")
