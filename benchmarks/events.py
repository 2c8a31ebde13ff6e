"""Event to applied: how soon a change in a workload cluster becomes add-ons applied there.

An emulated fleet (`function.testing`, in this process) of ``--clusters`` Cluster API
clusters (100) runs the real reconciler. Each workload cluster's monitoring stack reports GPU
utilisation in the ConfigMap ``monitoring/gpu-utilization``; the example EventSource
(``examples/lua/events/gpu-utilization-high``) and an EventTrigger adding one ConfigMap
add-on watch all of them. One cluster at a time, utilisation goes from 50 % to 90 %, and the
latency is the time between that write and the add-on's object being written to the same
cluster, both read from the cluster's write log (the emulator's clock, no polling error):

* **events**: ConfigMap change → watch → Lua rule → matching set → AddonBundle written by
  the trigger → bundle informer → converge → applied;
* **baseline**: the same add-on in an AddonBundle created directly (bundle write → informer →
  converge → applied), i.e. the converge path alone, with nothing evaluated.

Both print the median and p99 in milliseconds, and the ratio events/baseline; the events
line is followed by its first part, change → AddonBundle written (the watch, the rule and the
trigger's reconcile), also from write logs, and by how many times the trigger's status was
written over all the events.

    python benchmarks/events.py [--clusters 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig  # noqa: E402
from function.reconciler.app import ReconcilerApp, Settings  # noqa: E402
from function.reconciler.timing import Timing  # noqa: E402
from function.testing import (  # noqa: E402
    EmulatedCluster,
    Fleet,
    install_capi_crds,
    workload_cluster_name,
)

API = "addons.aifleet.io/v1alpha1"
CAPI = "cluster.x-k8s.io/v1beta2"
NAMESPACE = "team-a"
SOURCE = ROOT / "examples" / "lua" / "events" / "gpu-utilization-high" / "eventsource.yaml"
TIMEOUT = 60.0

Obj = dict[str, Any]


def cluster(name: str) -> Obj:
    """A Cluster API Cluster with one CPU worker."""
    return {
        "apiVersion": CAPI,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"gpu": "true"}},
        "spec": {
            "topology": {
                "classRef": {"name": "gpu-cluster"},
                "version": "v1.33.0",
                "controlPlane": {"replicas": 1},
                "workers": {
                    "machineDeployments": [{"class": "cpu-worker", "name": "cpu", "replicas": 1}]
                },
            }
        },
    }


def addon(name: str) -> Obj:
    """One ConfigMap in namespace ``serving``."""
    return {
        "name": name,
        "namespace": "serving",
        "manifests": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"
        "data: {cluster: '{{ cluster.name }}'}\n",
    }


def utilization(workload: EmulatedCluster, value: str) -> None:
    """The monitoring stack's write."""
    workload.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "gpu-utilization", "namespace": "monitoring"},
            "data": {"utilization": value},
        },
        field_manager="monitoring",
    )


async def applied(workload: EmulatedCluster, since: int, name: str) -> float:
    """When the reconciler wrote the ConfigMap ``name`` (emulator clock)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = workload.writes.filter(since=since, field_manager="aifleet", name=name)
        if found:
            return found[0].time
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{name} was not applied on {workload.name}")


def last_write(workload: EmulatedCluster, since: int, **match: object) -> float:
    """The time of the latest matching write."""
    return workload.writes.filter(since=since, **match)[-1].time


async def measure(clusters: int) -> tuple[list[float], list[float], list[float], int]:
    """(event latencies, of which to the bundle written, baseline latencies) in seconds, and
    the writes of the trigger's status during the events."""
    with Fleet(simulation_delay=0.01) as fleet, tempfile.TemporaryDirectory() as cache:
        mgmt = fleet.add_cluster("mgmt")
        install_capi_crds(mgmt)
        for plural in ("addonbundles", "eventsources", "eventtriggers"):
            crd = ROOT / "package" / "crds" / f"addons.aifleet.io_{plural}.yaml"
            mgmt.apply_manifests(crd.read_text(), field_manager="crossplane")
        mgmt.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        names = [f"c{i:03d}" for i in range(clusters)]
        for name in names:
            mgmt.apply(cluster(name), field_manager="bench")
        fleet_names = [workload_cluster_name("mgmt", NAMESPACE, n) for n in names]
        deadline = time.monotonic() + 300
        while not all(n in fleet for n in fleet_names):
            if time.monotonic() > deadline:
                raise TimeoutError("the fleet was not provisioned")
            await asyncio.sleep(0.1)
        workloads = [fleet[n] for n in fleet_names]
        for workload in workloads:
            workload.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}
            )
            utilization(workload, "50%")
        settings = Settings(
            workers=16,
            chart_cache=Path(cache),
            charts_root=ROOT,
            probe_address=None,
            timing=Timing(waiting=0.05, gpu=0.1, status=0.02),
        )
        client = ApiAdapter(configuration_from_kubeconfig(mgmt.kubeconfig()))
        app = ReconcilerApp(settings, client)
        running = asyncio.create_task(app.run())
        try:
            await app.ready.wait()
            source: Obj = yaml.safe_load(SOURCE.read_text())
            source["metadata"]["namespace"] = NAMESPACE
            mgmt.apply(source, field_manager="bench")
            trigger = {
                "apiVersion": API,
                "kind": "EventTrigger",
                "metadata": {"name": "scale-up", "namespace": NAMESPACE},
                "spec": {
                    "sourceClusterSelector": {"matchLabels": {"gpu": "true"}},
                    "eventSourceName": "gpu-utilization-high",
                    "addons": [addon("extra-server")],
                },
            }
            mgmt.apply(trigger, field_manager="bench")
            await evaluated(mgmt, clusters)
            events, to_bundle, baseline = [], [], []
            statuses = mgmt.writes.mark()
            for name, workload in zip(names, workloads, strict=True):
                mark, bundles = workload.writes.mark(), mgmt.writes.mark()
                utilization(workload, "90%")
                done = await applied(workload, mark, "extra-server")
                changed = last_write(workload, mark, field_manager="monitoring")
                events.append(done - changed)
                made = mgmt.writes.filter(
                    since=bundles, name=f"scale-up-{name}", field_manager="aifleet-events"
                )
                to_bundle.append(made[0].time - changed)
            status_writes = mgmt.writes.count(since=statuses, kind="EventTrigger")
            for name, workload in zip(names, workloads, strict=True):
                mark, started = workload.writes.mark(), time.time()
                bundle = {
                    "apiVersion": API,
                    "kind": "AddonBundle",
                    "metadata": {"name": f"direct-{name}", "namespace": NAMESPACE},
                    "spec": {
                        "clusterRef": {"apiVersion": CAPI, "kind": "Cluster", "name": name},
                        "addons": [addon("direct")],
                    },
                }
                mgmt.apply(bundle, field_manager="bench")
                written = mgmt.writes.filter(name=f"direct-{name}", field_manager="bench")
                done = await applied(workload, mark, "direct")
                baseline.append(done - (written[-1].time if written else started))
            return events, to_bundle, baseline, status_writes
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await client.close()


async def evaluated(mgmt: EmulatedCluster, clusters: int) -> None:
    """Wait until the trigger reports on every cluster."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = mgmt.find(API, "EventTrigger", "scale-up", NAMESPACE) or {}
        if len((found.get("status") or {}).get("clusters") or []) == clusters:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the trigger did not report on every cluster")


def p99(values: list[float]) -> float:
    """The 99th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100, help="Workload clusters.")
    report(parser.parse_args().clusters)


def report(clusters: int) -> None:
    """Measure and print event to applied over ``clusters`` clusters (``benchmarks/lua.py``
    calls it too)."""
    started = time.perf_counter()
    events, to_bundle, baseline, status_writes = asyncio.run(measure(clusters))
    print(f"event to applied over {clusters} clusters ({time.perf_counter() - started:.0f}s)")
    rows = [("baseline: AddonBundle created directly", baseline), ("events: EventTrigger", events)]
    base = statistics.median(baseline), p99(baseline)
    for label, values in rows:
        median, tail = statistics.median(values) * 1000, p99(values) * 1000
        print(
            f"  {label:<40} median {median:7.1f} ms   p99 {tail:7.1f} ms"
            f"   {median / (base[0] * 1000):5.2f}x / {tail / (base[1] * 1000):5.2f}x the baseline"
        )
    median, tail = statistics.median(to_bundle) * 1000, p99(to_bundle) * 1000
    print(
        f"    {'of which change to AddonBundle written':<38} median {median:7.1f} ms"
        f"   p99 {tail:7.1f} ms"
    )
    print(f"    trigger status written {status_writes} times for {len(events)} events")


if __name__ == "__main__":
    main()
