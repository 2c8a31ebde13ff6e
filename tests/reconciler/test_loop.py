"""The reconciler end to end on the emulator: readiness, order, health, hashes, pruning."""

from pathlib import Path

import pytest

from tests.reconciler.harness import (
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    first_message,
    is_ready,
    running,
)


async def test_nothing_happens_until_the_control_plane_is_initialized(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.simulation.disable("capi-control-plane")
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        waiting = "waiting for the control plane (phase Provisioning)"
        got = await h.wait_bundle("stack", lambda b: first_message(b) == waiting)
        assert addon_phases(got) == {"a": "Pending"}
        assert condition(got, "Ready")["reason"] == "AddonsPending"
        assert h.workload_or_none("c1") is None

        h.mgmt.simulation.enable("capi-control-plane")
        got = await h.wait_bundle("stack", is_ready)
        workload = h.workload("c1")
        cm = workload.get("v1", "ConfigMap", "a", "apps")
        assert cm["data"] == {"value": "v1", "cluster": "c1"}


async def test_addons_come_up_in_dependency_order_each_after_its_dependency_is_healthy(
    tmp_path: Path,
) -> None:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: op}\n"
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: op}}\n"
        "  template:\n    metadata: {labels: {app: op}}\n"
        "    spec: {containers: [{name: op, image: op:1}]}\n"
    )
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.simulation.disable("deployment-available")
        addons = [
            configmap_addon("last", "middle"),
            {"name": "first", "namespace": "apps", "manifests": deployment},
            configmap_addon("middle", "first"),
        ]
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle("stack", lambda b: addon_phases(b).get("first") == "Waiting")
        assert addon_phases(got) == {"last": "Pending", "first": "Waiting", "middle": "Pending"}
        middle = next(a for a in got["status"]["clusters"][0]["addons"] if a["name"] == "middle")
        assert middle["message"] == "waiting for first"
        assert workload.find("v1", "ConfigMap", "middle", "apps") is None

        workload.simulation.enable("deployment-available")
        await h.wait_bundle("stack", is_ready)
        order = workload.writes.names(field_manager="aifleet")
        assert order == [
            "Namespace/apps",
            "Deployment/apps/op",
            "ConfigMap/apps/middle",
            "ConfigMap/apps/last",
        ]


@pytest.mark.parametrize("restart", [False, True], ids=["resync", "restart"])
async def test_a_converged_bundle_writes_nothing_again(tmp_path: Path, restart: bool) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        addons = [configmap_addon("a"), configmap_addon("b", "a")]
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        await h.settle()
        workload = h.workload("c1")
        mgmt_mark, workload_mark = h.mgmt.writes.mark(), workload.writes.mark()
        if restart:
            await h.restart()
        else:
            assert h.app is not None
            h.app.reconciler.resync()
        await h.settle()
        assert h.mgmt.writes.filter(since=mgmt_mark) == []
        assert workload.writes.filter(since=workload_mark) == []


async def test_a_changed_addon_rewrites_only_its_changed_objects(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        two_maps = configmap_addon("b", "a")
        two_maps["manifests"] += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b2}\n"
        addons = [configmap_addon("a"), two_maps, configmap_addon("c", "b")]
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        await h.settle()
        workload = h.workload("c1")
        mark = workload.writes.mark()

        two_maps["manifests"] = two_maps["manifests"].replace("value: v1", "value: v2")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        await h.wait_bundle(
            "stack", lambda b: is_ready(b) and b["status"]["observedGeneration"] == 2
        )
        await h.settle()
        assert workload.writes.names(since=mark) == ["ConfigMap/apps/b"]
        assert workload.get("v1", "ConfigMap", "b", "apps")["data"]["value"] == "v2"


async def test_an_object_no_longer_rendered_is_pruned(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        addon = configmap_addon("a")
        extra = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: extra}\nstringData: {k: v}\n"
        addon["manifests"] += extra
        h.mgmt.apply(bundle("stack", [addon]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        workload = h.workload("c1")
        assert workload.find("v1", "Secret", "extra", "apps") is not None
        status = h.bundle("stack")["status"]["clusters"][0]["addons"][0]
        assert (status["resources"], status["kinds"]) == (2, ["v1/ConfigMap", "v1/Secret"])

        addon["manifests"] = addon["manifests"].replace(extra, "")
        h.mgmt.apply(bundle("stack", [addon]), field_manager="test")
        await h.wait_bundle(
            "stack", lambda b: b["status"]["observedGeneration"] == 2 and is_ready(b)
        )
        assert workload.find("v1", "Secret", "extra", "apps") is None
        assert workload.find("v1", "ConfigMap", "a", "apps") is not None
        status = h.bundle("stack")["status"]["clusters"][0]["addons"][0]
        assert (status["resources"], status["kinds"]) == (1, ["v1/ConfigMap"])


async def test_a_real_helm_chart_comes_up_healthy(tmp_path: Path) -> None:
    nfd = {
        "name": "nfd",
        "namespace": "node-feature-discovery",
        "helm": {
            "repository": "file://examples/charts",
            "chart": "node-feature-discovery",
            "version": "0.19.0",
            "values": {"master": {"replicaCount": 2}},
        },
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [nfd]), field_manager="test")
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"nfd": "Healthy"}
        workload = h.workload("c1")
        kinds = {r.kind for r in workload.writes.filter(field_manager="aifleet")}
        assert {"Deployment", "DaemonSet"} <= kinds
        deployments = workload.list("apps/v1", "Deployment", namespace="node-feature-discovery")
        assert [d["spec"]["replicas"] for d in deployments] == [2]
        labels = deployments[0]["metadata"]["labels"]
        assert labels["addons.aifleet.io/addon"] == "nfd"
        assert got["status"]["clusters"][0]["addons"][0]["lastAppliedTime"]


async def test_an_addon_removed_from_the_bundle_is_withdrawn(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [configmap_addon("a"), configmap_addon("b")]), field_manager="test"
        )
        await h.wait_bundle("stack", is_ready)
        workload = h.workload("c1")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        got = await h.wait_bundle("stack", lambda b: addon_phases(b) == {"a": "Healthy"})
        assert got["status"]["observedGeneration"] == 2
        assert workload.find("v1", "ConfigMap", "b", "apps") is None
        assert workload.find("v1", "ConfigMap", "a", "apps") is not None
