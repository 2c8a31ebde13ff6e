"""The benchmark fleet: emulated clusters in a child process, driven over a control channel.

`benchmarks/reconciler.py` measures the reconciler's CPU with ``time.process_time()``, so the
Kubernetes API emulator (`function.testing`) must not share its process. `EmulatorProcess`
starts a `Fleet` in a child process (``multiprocessing``, spawn) and talks to it through a
`multiprocessing.Pipe`; the reconciler reaches the clusters over HTTP as usual. The child:

- sets up a management cluster as `function.demo` does (Cluster API CRDs, the AddonBundle CRD,
  the AIInferenceCluster CRD, namespace ``team-a``);
- composes ``count`` copies of the H100 example XR (``llama-000`` …) through the real function
  (`function.fn.runner.FunctionRunner`, requests built by `function.fn.render.build_request`)
  with the offline Input, and applies what it returns — a Cluster API `Cluster` with GPU
  workers and an `AddonBundle` whose ``clusterRef`` names it — with the emulator's miniature
  of Crossplane's composition loop (`function.testing.crossplane.CompositionLoop`);
- or, for `benchmarks/shards.py`, ``count`` plain Cluster API clusters (`setup_plain`) whose
  bundles of small ConfigMap add-ons the benchmark creates and removes run by run (one per
  cluster, or one whose selector picks them all: `apply_split_bundle`);
- lets the simulation provision every workload cluster, and answers questions about what
  happened: ready bundles, Lease holders, and the write and request logs of every cluster
  since a mark (writes also by the User-Agent of the process that made them).

Writes are read from each cluster's `WriteLog` (effective writes: a no-op apply is not one) and
requests from its `RequestLog` (every request answered, reads and no-op writes included).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from function.kube.client import FIELD_MANAGER as MANAGER

ROOT = Path(__file__).resolve().parent.parent
XR_FILE = ROOT / "examples" / "xrs" / "h100-kserve.yaml"
INPUT_FILE = ROOT / "examples" / "input-offline.yaml"
MANAGEMENT = "mgmt"
NAMESPACE = "team-a"
XR_API, XR_KIND = "aifleet.io/v1alpha1", "AIInferenceCluster"
BUNDLE_API, BUNDLE_KIND = "addons.aifleet.io/v1alpha1", "AddonBundle"
CLUSTER_API = "cluster.x-k8s.io/v1beta2"
PLAIN_LABEL = "bench.aifleet.io/plain"
"""The label of every plain cluster (what a split bundle's selector picks)."""
EDITOR = "kubectl-edit"
"""The field manager of hand edits."""
WRITE_VERBS = frozenset({"create", "update", "patch", "apply", "delete", "deletecollection"})
EMULATOR_YOUNG_THRESHOLD = 50_000
"""Allocations between the emulator's young collections (CPython's default is 700). One
process stands in for every cluster's API server, so its collections traverse what a fleet
of servers would hold apart; measured at 1,000 clusters, this halved the emulator's CPU over a
restart (12.5 s to 6.8 s), which the reconciler shares the 2 cores with."""

Obj = dict[str, Any]
Marks = dict[str, tuple[int, int]]
"""Per cluster: (write log mark, request log mark)."""


def xr_name(index: int) -> str:
    """The name of the ``index``-th XR (and of its Cluster)."""
    return f"llama-{index:03d}"


@dataclass
class Tally:
    """What the reconciler did to the fleet between two marks."""

    workload_writes: int = 0
    """Effective writes by `MANAGER` to workload clusters."""
    workload_write_requests: int = 0
    """Write requests to workload clusters (no-op applies included)."""
    workload_read_requests: int = 0
    workload_objects: int = 0
    """Distinct objects `MANAGER` wrote to workload clusters."""
    management_writes: dict[str, int] = field(default_factory=dict)
    """Effective writes by `MANAGER` to the management cluster, by verb/subresource and kind."""
    management_requests: int = 0
    written_kinds: dict[str, int] = field(default_factory=dict)
    """Effective writes to workload clusters by kind."""


class _Fleet:
    """The child's side: a running `Fleet` and the answers to the parent's commands.

    The emulator and the function are imported here, in the child, so that the measured
    process never loads them.
    """

    def __init__(self, simulation_delay: float) -> None:
        from function.testing import Fleet

        self.fleet = Fleet(simulation_delay=simulation_delay).start()

    def setup(self, count: int) -> dict[str, Any]:
        """Management cluster, ``count`` composed XRs; return the management kubeconfig."""
        from function.demo.run import management_cluster
        from function.fn.runner import FunctionRunner
        from function.model.objects import load_documents
        from function.testing.crossplane import CompositionLoop

        mgmt = management_cluster(self.fleet)
        runner = FunctionRunner()
        step_input = load_documents([INPUT_FILE])[0]
        loop = CompositionLoop(mgmt, lambda req: asyncio.run(runner.RunFunction(req)), step_input)
        for index in range(count):
            xr = load_documents([XR_FILE])[0]
            xr["metadata"]["name"] = xr_name(index)
            mgmt.apply(xr, field_manager="kubectl")
            step = loop.step(XR_API, XR_KIND, xr_name(index), NAMESPACE)
            if len(step.applied) != 2:
                raise RuntimeError(f"{xr_name(index)} composed {step.applied}, {step.results}")
        return mgmt.kubeconfig()

    def freeze(self) -> int:
        """Collect the emulator's heap in full and freeze what survives; how many objects are
        frozen. Done before each measured phase: the fleet's stored objects are long-lived, and
        a full collection over them (about a second at 300 clusters) stalls every client of
        every emulated cluster at once, which a real API server's concurrent collector does not.
        Young collections are spaced out too (`EMULATOR_YOUNG_THRESHOLD`)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(EMULATOR_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        return gc.get_freeze_count()

    def bundles(self) -> int:
        """How many AddonBundles the management cluster holds."""
        return len(self.fleet[MANAGEMENT].list(BUNDLE_API, BUNDLE_KIND, namespace=NAMESPACE))

    def addons_per_bundle(self) -> int:
        """How many add-ons the first bundle has (every bundle has the same)."""
        bundle = self.fleet[MANAGEMENT].get(
            BUNDLE_API, BUNDLE_KIND, f"{xr_name(0)}-addons", NAMESPACE
        )
        return len(bundle["spec"]["addons"])

    def provisioned(self) -> int:
        """How many Clusters are available with every worker Node registered."""
        return self._count(CLUSTER_API, "Cluster", lambda c: _condition(c, "Available") == "True")

    def ready_bundles(self, prefix: str = "") -> int:
        """How many bundles (named ``prefix…``) report Ready=True for their generation."""
        return self._count(
            BUNDLE_API,
            BUNDLE_KIND,
            lambda b: b["metadata"]["name"].startswith(prefix) and _ready_bundle(b),
        )

    def set_offline(self, count: int, offline: bool) -> None:
        """Take the workload clusters of the first ``count`` XRs offline, or bring them back."""
        from function.testing.simulation.capi import workload_cluster_name

        for index in range(count):
            name = workload_cluster_name(MANAGEMENT, NAMESPACE, xr_name(index))
            self.fleet[name].faults.set_offline(offline)

    def change_bundles(self, count: int, marker: str) -> None:
        """Give the bundles of the first ``count`` XRs one more add-on (a ConfigMap)."""
        mgmt = self.fleet[MANAGEMENT]
        for index in range(count):
            name = f"{xr_name(index)}-addons"
            addons = mgmt.get(BUNDLE_API, BUNDLE_KIND, name, NAMESPACE)["spec"]["addons"]
            manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {marker}}}\n"
            extra = {"name": marker, "namespace": "default", "manifests": manifest}
            patch = {"spec": {"addons": [*addons, extra]}}
            mgmt.patch(BUNDLE_API, BUNDLE_KIND, name, patch, namespace=NAMESPACE)

    def down_bundles(self) -> int:
        """How many bundles report a target cluster ``connectionStatus: Down``."""
        return self._count(
            BUNDLE_API,
            BUNDLE_KIND,
            lambda b: any(
                c.get("connectionStatus") == "Down"
                for c in (b.get("status") or {}).get("clusters") or []
            ),
        )

    def setup_plain(self, count: int, lease_namespace: str) -> dict[str, Any]:
        """Management cluster and ``count`` Cluster API clusters with one worker each (no
        bundles); return the management kubeconfig."""
        from function.demo.run import management_cluster

        mgmt = management_cluster(self.fleet)
        mgmt.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": lease_namespace}}
        )
        for index in range(count):
            mgmt.apply(_plain_cluster(plain_name(index)), field_manager="kubectl")
        return mgmt.kubeconfig()

    def apply_bundles(
        self, prefix: str, count: int, addons: int, data: str, sync_mode: str = "Continuous"
    ) -> None:
        """A bundle ``<prefix>-<cluster>`` of ``addons`` ConfigMap add-ons (namespace
        ``prefix``) on each of the first ``count`` plain clusters."""
        mgmt = self.fleet[MANAGEMENT]
        for index in range(count):
            name = plain_name(index)
            bundle = _plain_bundle(prefix, name, addons, data)
            bundle["spec"]["syncMode"] = sync_mode
            mgmt.apply(bundle, field_manager="kubectl")

    def apply_split_bundle(self, prefix: str, addons: int, data: str) -> None:
        """One bundle ``<prefix>-split`` of ``addons`` ConfigMap add-ons whose selector picks
        every plain cluster, so that its clusters span every shard."""
        bundle = _plain_bundle(prefix, "split", addons, data)
        del bundle["spec"]["clusterRef"]
        bundle["spec"]["clusterSelector"] = {"matchLabels": {PLAIN_LABEL: "true"}}
        self.fleet[MANAGEMENT].apply(bundle, field_manager="kubectl")

    def split_ready(self, prefix: str) -> int:
        """Entries of ``<prefix>-split`` ready at its generation once the bundle reports
        Ready for it (0 until then)."""
        got = self.fleet[MANAGEMENT].find(BUNDLE_API, BUNDLE_KIND, f"{prefix}-split", NAMESPACE)
        if got is None or not _ready_bundle(got):
            return 0
        generation = got["metadata"]["generation"]
        return sum(
            bool(c.get("ready")) and c.get("observedGeneration") == generation
            for c in got["status"].get("clusters") or []
        )

    def status_writes(self, since: Marks, name: str) -> dict[str, Any]:
        """Requests to the status of bundle ``name`` since ``since``: the writes that took,
        their body sizes, those refused with 409 Conflict, by User-Agent."""
        mark = since.get(MANAGEMENT, (0, 0))[1]
        requests = self.fleet[MANAGEMENT].requests.filter(since=mark, kind=BUNDLE_KIND, name=name)
        status = [r for r in requests if r.subresource == "status" and r.verb in WRITE_VERBS]
        took = [r for r in status if r.code < 300]
        by_agent: dict[str, int] = {}
        _count(by_agent, (r.user_agent for r in took))
        return {
            "writes": len(took),
            "sizes": sorted(r.size for r in took),
            "conflicts": sum(r.code == 409 for r in status),
            "by_agent": by_agent,
        }

    def drift(self, prefix: str, count: int, spacing: float) -> Marks:
        """By hand, one cluster after the other ``spacing`` s apart: edit add-on ``a0``'s
        ConfigMap on even clusters, delete it on odd ones; return the marks from before."""
        marks = self.mark()
        for index in range(count):
            cluster = self._workload(plain_name(index))
            if index % 2:
                cluster.delete("v1", "ConfigMap", "a0", prefix)
            else:
                edit = {"data": {"value": f"edited-{index}"}}
                cluster.patch("v1", "ConfigMap", "a0", edit, namespace=prefix, field_manager=EDITOR)
            time.sleep(spacing)
        return marks

    def restored(self, prefix: str, count: int, since: Marks) -> list[float]:
        """Seconds from each hand edit or deletion since ``since`` to `MANAGER`'s next write
        of that object (clusters not restored yet are left out)."""
        latencies = []
        for index in range(count):
            cluster = self._workload(plain_name(index))
            writes = cluster.writes.filter(since=since.get(cluster.name, (0, 0))[0])
            ours = [
                w for w in writes if (w.kind, w.namespace, w.name) == ("ConfigMap", prefix, "a0")
            ]
            edit = next((w for w in ours if w.field_manager != MANAGER), None)
            fixed = next(
                (w for w in ours if edit and w.seq > edit.seq and w.field_manager == MANAGER), None
            )
            if edit is not None and fixed is not None:
                latencies.append(fixed.time - edit.time)
        return latencies

    def _workload(self, name: str) -> Any:
        from function.testing import workload_cluster_name

        return self.fleet[workload_cluster_name(MANAGEMENT, NAMESPACE, name)]

    def remove_bundles(self, prefix: str) -> int:
        """Delete the bundles named ``prefix…`` at once (finalizers dropped, add-ons left)."""
        mgmt = self.fleet[MANAGEMENT]
        removed = 0
        for bundle in mgmt.list(BUNDLE_API, BUNDLE_KIND, namespace=NAMESPACE):
            name = bundle["metadata"]["name"]
            if name.startswith(prefix):
                patch = {"metadata": {"finalizers": None}}
                mgmt.patch(BUNDLE_API, BUNDLE_KIND, name, patch, namespace=NAMESPACE)
                mgmt.delete(BUNDLE_API, BUNDLE_KIND, name, NAMESPACE)
                removed += 1
        return removed

    def lease_holders(self, namespace: str) -> dict[str, str]:
        """Holder of each shard Lease in ``namespace`` (empty: none)."""
        leases = self.fleet[MANAGEMENT].list("coordination.k8s.io/v1", "Lease", namespace=namespace)
        return {
            lease["metadata"]["name"]: str(lease["spec"].get("holderIdentity") or "")
            for lease in leases
            if "-shard-" in lease["metadata"]["name"]
        }

    def writers(self, since: Marks) -> dict[str, Any]:
        """Effective writes by `MANAGER` to workload clusters since ``since``: per User-Agent,
        clusters written by more than one process, and objects written more than once."""
        by_agent: dict[str, int] = {}
        shared_clusters = duplicates = 0
        for cluster in self.fleet:
            if cluster.name == MANAGEMENT:
                continue
            writes = cluster.writes.filter(since=since.get(cluster.name, (0, 0))[0])
            writes = [w for w in writes if w.field_manager == MANAGER]
            _count(by_agent, (w.user_agent for w in writes))
            shared_clusters += len({w.user_agent for w in writes}) > 1
            objects = [(w.kind, w.namespace, w.name) for w in writes]
            duplicates += len(objects) - len(set(objects))
        return {"by_agent": by_agent, "shared_clusters": shared_clusters, "duplicates": duplicates}

    def _count(self, api_version: str, kind: str, matches: Callable[[Obj], bool]) -> int:
        """Matching objects in the management namespace, read in place (polled often)."""
        api = self.fleet[MANAGEMENT].api

        def count() -> int:
            listed = api.list_objects(api.target(api_version, kind, NAMESPACE))
            return sum(matches(stored.obj) for stored in listed.items)

        return self.fleet.call(count)

    def cpu_seconds(self) -> float:
        """CPU time of the emulator's process so far."""
        return time.process_time()

    def mark(self) -> Marks:
        """The current position of every cluster's logs."""
        return {c.name: (c.writes.mark(), c.requests.mark()) for c in self.fleet}

    def tally(self, since: Marks) -> Tally:
        """What `MANAGER` wrote and asked since ``since`` (clusters added later: everything)."""
        tally = Tally()
        for cluster in self.fleet:
            writes_mark, requests_mark = since.get(cluster.name, (0, 0))
            writes = cluster.writes.filter(since=writes_mark, field_manager=MANAGER)
            requests = cluster.requests.filter(since=requests_mark)
            if cluster.name == MANAGEMENT:
                _count(
                    tally.management_writes,
                    (
                        f"{w.verb}{'/' + w.subresource if w.subresource else ''} {w.kind}"
                        for w in writes
                    ),
                )
                tally.management_requests += len(requests)
                continue
            tally.workload_writes += len(writes)
            _count(tally.written_kinds, (w.kind for w in writes))
            tally.workload_objects += len({(w.kind, w.namespace, w.name) for w in writes})
            written = sum(r.verb in WRITE_VERBS for r in requests)
            tally.workload_write_requests += written
            tally.workload_read_requests += len(requests) - written
        return tally


def plain_name(index: int) -> str:
    """The name of the ``index``-th plain cluster."""
    return f"c-{index:04d}"


def _plain_cluster(name: str) -> Obj:
    return {
        "apiVersion": CLUSTER_API,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {PLAIN_LABEL: "true"}},
        "spec": {
            "topology": {
                "classRef": {"name": "plain"},
                "version": "v1.33.0",
                "controlPlane": {"replicas": 1},
                "workers": {"machineDeployments": [{"class": "cpu", "name": "cpu", "replicas": 1}]},
            }
        },
    }


def _plain_bundle(prefix: str, cluster: str, addons: int, data: str) -> Obj:
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: {data}}}\n"
    )
    return {
        "apiVersion": BUNDLE_API,
        "kind": BUNDLE_KIND,
        "metadata": {"name": f"{prefix}-{cluster}", "namespace": NAMESPACE},
        "spec": {
            "clusterRef": {"apiVersion": CLUSTER_API, "kind": "Cluster", "name": cluster},
            "syncMode": "Continuous",
            "addons": [
                {
                    "name": f"a{i}",
                    "namespace": prefix,
                    "manifests": manifest.format(name=f"a{i}", data=data if i == 0 else "v1"),
                }
                for i in range(addons)
            ],
        },
    }


def _count(counts: dict[str, int], keys: Iterable[str]) -> None:
    for key in keys:
        counts[key] = counts.get(key, 0) + 1


def _ready_bundle(bundle: Obj) -> bool:
    observed = (bundle.get("status") or {}).get("observedGeneration")
    return _condition(bundle, "Ready") == "True" and observed == bundle["metadata"]["generation"]


def _condition(obj: Obj, kind: str) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def _serve(connection: Connection, simulation_delay: float) -> None:
    """The child process: answer ``(command, kwargs)`` messages until ``stop``."""
    fleet = _Fleet(simulation_delay)
    try:
        while True:
            command, kwargs = connection.recv()
            if command == "stop":
                break
            try:
                connection.send(("ok", getattr(fleet, command)(**kwargs)))
            except Exception as error:  # handed to the parent, which raises it
                connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        fleet.fleet.stop()


class EmulatorProcess:
    """The emulated fleet in a child process; `call` runs one `_Fleet` method there."""

    def __init__(self, simulation_delay: float = 0.01) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, simulation_delay), name="emulator", daemon=True
        )
        self._lock = threading.Lock()

    def __enter__(self) -> EmulatorProcess:
        self._process.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            self._connection.send(("stop", {}))
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()

    def call(self, command: str, **kwargs: Any) -> Any:
        """Run ``_Fleet.<command>(**kwargs)`` in the child and return its result."""
        with self._lock:
            self._connection.send((command, kwargs))
            outcome, value = self._connection.recv()
        if outcome == "error":
            raise RuntimeError(f"emulator: {value}")
        return value

    async def wait_until(
        self, command: str, wanted: int, *, within: float, poll: float = 0.1, **kwargs: Any
    ) -> float:
        """Poll ``command`` (off the event loop) until it returns ``wanted``; the time it did."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.call, command, **kwargs) >= wanted:
                return time.perf_counter()
            await asyncio.sleep(poll)
        last = await asyncio.to_thread(self.call, command, **kwargs)
        raise TimeoutError(f"{command}: {last} of {wanted} after {within:.0f} s")
