"""Drift found by watching the applied objects: restored at once, no loops, no restart writes."""

import asyncio
import time
from pathlib import Path

from function.reconciler.drift import IGNORE_ANNOTATION
from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    CAPI,
    NAMESPACE,
    Harness,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: op}\n"
    "spec:\n  replicas: 1\n  selector: {matchLabels: {app: op}}\n"
    "  template:\n    metadata: {labels: {app: op}}\n"
    "    spec: {containers: [{name: op, image: op:1}]}\n"
)
NO_PERIODIC_CHECK = Timing(waiting=0.05, gpu=0.1, drift=3600.0, status=0.02)
"""The periodic check and the resync (an hour, in `running`) cannot run during a test."""
DRIFT = "ContinuousWithDriftDetection"


def _drift_count(b: dict[str, object]) -> int:
    clusters = (b.get("status") or {}).get("clusters") or []  # type: ignore[attr-defined]
    return int(((clusters[0].get("drift") or {}) if clusters else {}).get("count") or 0)


async def _ready(h: Harness, name: str, addons: list[dict[str, object]], **spec: object) -> None:
    h.mgmt.apply(capi_cluster("c1"), field_manager="test")
    h.mgmt.apply(bundle(name, addons, syncMode=DRIFT, **spec), field_manager="test")
    await h.wait_bundle(name, is_ready)
    await h.settle()


async def test_an_edited_and_a_deleted_object_are_restored_by_the_watch(tmp_path: Path) -> None:
    addons = [
        {"name": "op", "namespace": "apps", "manifests": DEPLOYMENT},
        configmap_addon("cfg"),
    ]
    async with running(tmp_path, timing=NO_PERIODIC_CHECK) as h:
        await _ready(h, "stack", addons)
        assert h.app is not None
        drift = h.app.converger.drift
        assert {(k.kind, k.selector) for k in drift.active()} == {
            ("Deployment", "addons.aifleet.io/bundle"),
            ("ConfigMap", "addons.aifleet.io/bundle"),
        }
        workload = h.workload("c1")
        mark = workload.writes.mark()
        started = time.monotonic()
        workload.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"replicas": 3}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        workload.delete("v1", "ConfigMap", "cfg", "apps")

        def restored() -> bool:
            deployment = workload.get("apps/v1", "Deployment", "op", "apps")
            cfg = workload.find("v1", "ConfigMap", "cfg", "apps")
            return deployment["spec"]["replicas"] == 1 and cfg is not None

        await eventually(restored, within=5, what="both objects restored")
        assert time.monotonic() - started < 5  # an hour before any periodic check
        repairs = workload.writes.filter(since=mark, field_manager="aifleet")
        assert sorted((r.kind, r.name) for r in repairs) == [
            ("ConfigMap", "cfg"),
            ("Deployment", "op"),
        ]
        assert drift.detected >= 2
        await h.wait_bundle("stack", lambda b: _drift_count(b) == 2)
        await eventually(
            lambda: any(
                e["reason"] == "DriftCorrected"
                for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE)
            ),
            within=5,
            what="a DriftCorrected event",
        )
        assert h.app.converger.counts.written >= 2 + 2  # the install and the repairs


async def test_an_excluded_field_written_by_another_controller_causes_no_write_loop(
    tmp_path: Path,
) -> None:
    exclusions = [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]
    addons = [
        {
            "name": "op",
            "namespace": "apps",
            "manifests": DEPLOYMENT,
            "driftExclusions": exclusions,
        }
    ]
    async with running(tmp_path, timing=NO_PERIODIC_CHECK) as h:
        await _ready(h, "stack", addons)
        assert h.app is not None
        workload = h.workload("c1")
        mark = workload.writes.mark()
        # An autoscaler owns replicas and moves them; another controller annotates the object.
        for replicas in range(2, 12):
            workload.apply(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": "op",
                        "namespace": "apps",
                        "annotations": {"hpa.example/seen": str(replicas)},
                    },
                    "spec": {"replicas": replicas},
                },
                field_manager="hpa",
                force=True,
            )
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        await h.settle()
        assert workload.writes.count(since=mark, field_manager="aifleet") == 0
        assert len(workload.writes.filter(since=mark, field_manager="hpa")) == 10
        assert workload.get("apps/v1", "Deployment", "op", "apps")["spec"]["replicas"] == 11
        assert h.app.converger.drift.events >= 10  # every write was seen, and let be

        # A managed field is still taken back, and once.
        workload.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"template": {"spec": {"containers": [{"name": "op", "image": "op:2"}]}}}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        image = lambda: workload.get("apps/v1", "Deployment", "op", "apps")["spec"]["template"][  # noqa: E731
            "spec"
        ]["containers"][0]["image"]
        await eventually(lambda: image() == "op:1", within=5, what="the image restored")
        await asyncio.sleep(0.5)
        await h.settle()
        assert workload.writes.count(since=mark, field_manager="aifleet") == 1

        # Opted out by annotation: a hand edit stays, and nothing is written.
        workload.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"metadata": {"annotations": {IGNORE_ANNOTATION: "true"}}},
            namespace="apps",
            field_manager="kubectl-annotate",
        )
        workload.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"template": {"spec": {"containers": [{"name": "op", "image": "op:3"}]}}}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        await asyncio.sleep(0.5)
        await h.settle()
        assert image() == "op:3"
        assert workload.writes.count(since=mark, field_manager="aifleet") == 1


async def test_restarting_the_reconciler_mid_fleet_writes_nothing(tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(1, 5)]
    async with running(tmp_path, timing=NO_PERIODIC_CHECK) as h:
        for name in names:
            h.mgmt.apply(capi_cluster(name), field_manager="test")
            ref = {"apiVersion": CAPI, "kind": "Cluster", "name": name}
            addons = [{"name": "op", "namespace": "apps", "manifests": DEPLOYMENT}]
            h.mgmt.apply(
                bundle(
                    f"stack-{name}",
                    [*addons, configmap_addon("cfg")],
                    clusterRef=ref,
                    syncMode=DRIFT,
                ),
                field_manager="test",
            )
        for name in names:
            await h.wait_bundle(f"stack-{name}", is_ready)
        await h.settle()
        marks = {name: h.workload(name).writes.mark() for name in names}
        mgmt_mark = h.mgmt.writes.mark()
        await h.restart()
        await h.settle()
        assert h.app is not None
        await eventually(
            lambda: len(h.app.converger.drift.active()) == 2 * len(names),  # type: ignore[union-attr]
            within=5,
            what="the drift watches after the restart",
        )
        await asyncio.sleep(0.3)
        await h.settle()
        for name in names:
            assert h.workload(name).writes.filter(since=marks[name]) == []
        assert h.mgmt.writes.filter(since=mgmt_mark) == []
        # And the new process watches: a deletion is restored at once.
        workload = h.workload("c2")
        workload.delete("v1", "ConfigMap", "cfg", "apps")
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "cfg", "apps") is not None,
            within=5,
            what="the ConfigMap restored after the restart",
        )


async def test_bundles_on_one_cluster_share_one_watch_per_kind(tmp_path: Path) -> None:
    async with running(tmp_path, timing=NO_PERIODIC_CHECK) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        watches = workload.requests.mark()
        for name in ("one", "two"):
            addons = [configmap_addon(f"cfg-{name}")]
            h.mgmt.apply(bundle(name, addons, syncMode=DRIFT), field_manager="test")
        for name in ("one", "two"):
            await h.wait_bundle(name, is_ready)
        await h.settle()
        assert h.app is not None
        assert [k.kind for k in h.app.converger.drift.active()] == ["ConfigMap"]
        assert workload.requests.count(since=watches, verb="watch", kind="ConfigMap") == 1
        # The one watch queues the bundle whose object moved, and only that one repairs.
        mark = workload.writes.mark()
        workload.delete("v1", "ConfigMap", "cfg-two", "apps")
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "cfg-two", "apps") is not None,
            within=5,
            what="cfg-two restored",
        )
        await h.settle()
        assert workload.writes.names(since=mark, field_manager="aifleet") == [
            "ConfigMap/apps/cfg-two"
        ]
        await h.wait_bundle("two", lambda b: _drift_count(b) == 1)
        assert _drift_count(h.bundle("one")) == 0


async def test_clusters_given_the_same_objects_are_each_restored_alone(tmp_path: Path) -> None:
    """Two clusters given the same objects (whose keys share their strings): an edit on one
    is drift there only, and the other's objects are judged by their own events."""
    selector = {"matchLabels": {"tier": "same"}}
    addons = [{"name": "op", "namespace": "apps", "manifests": DEPLOYMENT}]
    async with running(tmp_path, timing=NO_PERIODIC_CHECK) as h:
        for name in ("c1", "c2"):
            h.mgmt.apply(capi_cluster(name, labels={"tier": "same"}), field_manager="test")
        spec = {"clusterSelector": selector, "clusterRef": None, "syncMode": DRIFT}
        h.mgmt.apply(bundle("same", addons, **spec), field_manager="test")
        await h.wait_bundle("same", lambda b: is_ready(b) and len(b["status"]["clusters"]) == 2)
        await h.settle()
        one, two = h.workload("c1"), h.workload("c2")
        marks = {"c1": one.writes.mark(), "c2": two.writes.mark()}

        def replicas(workload: object) -> int:
            live = workload.get("apps/v1", "Deployment", "op", "apps")  # type: ignore[attr-defined]
            return int(live["spec"]["replicas"])

        two.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"replicas": 4}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        await eventually(lambda: replicas(two) == 1, within=5, what="c2 restored")
        await h.settle()
        assert [w.name for w in two.writes.filter(since=marks["c2"], field_manager="aifleet")] == [
            "op"
        ]
        assert one.writes.filter(since=marks["c1"]) == []
        one.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"replicas": 2}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        await eventually(lambda: replicas(one) == 1, within=5, what="c1 restored")
