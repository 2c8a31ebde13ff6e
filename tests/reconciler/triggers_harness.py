"""EventSources, EventTriggers and workload-cluster objects for the trigger tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from function.testing import EmulatedCluster
from tests.reconciler.harness import BUNDLE_API, NAMESPACE, Harness, eventually

REPO = Path(__file__).resolve().parents[2]
GPU_SOURCE = REPO / "examples" / "lua" / "events" / "gpu-utilization-high" / "eventsource.yaml"

Obj = dict[str, Any]


def gpu_source(namespace: str = NAMESPACE) -> Obj:
    """The example EventSource: a ConfigMap gpu-utilization above 80 %."""
    source: Obj = yaml.safe_load(GPU_SOURCE.read_text())
    source["metadata"]["namespace"] = namespace
    return source


def source(name: str, evaluate: str, *, kind: str = "ConfigMap", **spec: Any) -> Obj:
    """An EventSource over ConfigMaps of namespace ``monitoring``."""
    selector = {"group": "", "version": "v1", "kind": kind, "namespace": "monitoring"}
    if evaluate:
        selector["evaluate"] = evaluate
    return {
        "apiVersion": BUNDLE_API,
        "kind": "EventSource",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"resourceSelectors": [selector], **spec},
    }


REPLICA_ADDON: Obj = {
    "name": "extra-server",
    "namespace": "serving",
    "manifests": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: extra-server-{{ resource.metadata.name if resource is defined else 'all' }}\n"
        "data:\n"
        "  cluster: '{{ cluster.name }}'\n"
        "  events: '{{ matchingResources | length }}'\n"
    ),
}


def trigger(
    name: str,
    source_name: str,
    *,
    namespace: str = NAMESPACE,
    labels: dict[str, str] | None = None,
    addons: list[Obj] | None = None,
    **spec: Any,
) -> Obj:
    """An EventTrigger over the clusters labelled ``labels`` (gpu=true by default)."""
    return {
        "apiVersion": BUNDLE_API,
        "kind": "EventTrigger",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceClusterSelector": {"matchLabels": labels or {"gpu": "true"}},
            "eventSourceName": source_name,
            "addons": addons or [REPLICA_ADDON],
            **spec,
        },
    }


def utilization(workload: EmulatedCluster, value: str, name: str = "gpu-utilization") -> None:
    """The monitoring stack reports GPU utilisation in a ConfigMap."""
    if workload.find("v1", "Namespace", "monitoring") is None:
        workload.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}
        )
    workload.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "monitoring"},
            "data": {"utilization": value},
        },
        field_manager="monitoring",
    )


def trigger_bundles(h: Harness, trigger_name: str) -> list[str]:
    """Names of the bundles a trigger made, sorted."""
    return sorted(
        b["metadata"]["name"]
        for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE)
        if (b["metadata"].get("labels") or {}).get("addons.aifleet.io/event-trigger")
        == trigger_name
    )


async def wait_trigger(
    h: Harness, name: str, until: Any, within: float = 15.0, namespace: str = NAMESPACE
) -> Obj:
    """Wait until the stored trigger satisfies ``until``."""
    found: list[Obj] = []

    def check() -> bool:
        obj = h.mgmt.find(BUNDLE_API, "EventTrigger", name, namespace)
        found[:] = [obj] if obj else []
        return obj is not None and bool(until(obj))

    await eventually(check, within=within, what=f"trigger {name}", last=found)
    return found[0]


def ready_reason(obj: Obj) -> str | None:
    """The reason of a trigger's Ready condition."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return str(c["reason"])
    return None


def matching_names(obj: Obj, cluster: str = "c1") -> list[str]:
    """Names of the matching resources a trigger reports on one cluster."""
    for entry in (obj.get("status") or {}).get("clusters") or []:
        if entry["clusterRef"]["name"] == cluster:
            return [m["name"] for m in entry["matchingResources"]]
    return []


def events_of(h: Harness, reason: str, namespace: str = NAMESPACE) -> list[Obj]:
    """Events with ``reason`` in the management cluster."""
    return [e for e in h.mgmt.list("v1", "Event", namespace) if e.get("reason") == reason]
