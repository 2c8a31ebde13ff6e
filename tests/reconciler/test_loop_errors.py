"""Bad input on the emulator: each failure names its place, stays in its add-on, applies nothing."""

from collections.abc import Callable
from pathlib import Path

from tests.reconciler.harness import (
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    running,
)


def addon_status(obj: dict, name: str) -> dict:
    return next(a for a in obj["status"]["clusters"][0]["addons"] if a["name"] == name)


def settled(*names: str) -> Callable[[dict], bool]:
    """Every named add-on has reached a final phase."""
    done = {"Healthy", "Failed", "Applied"}
    return lambda b: (
        set(addon_phases(b).values()) <= done | {"Pending"}
        and all(addon_phases(b).get(n) in done for n in names)
    )


async def test_a_broken_template_fails_its_addon_with_file_and_line_and_applies_none_of_it(
    tmp_path: Path,
) -> None:
    broken = {
        "name": "broken",
        "namespace": "apps",
        "manifests": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\n"
            "data:\n  region: '{{ cluster.labels.region }}'\n"
        ),
    }
    addons = [configmap_addon("ok"), broken, configmap_addon("after", "broken")]
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle("stack", settled("ok", "broken"))
        assert addon_phases(got) == {"ok": "Healthy", "broken": "Failed", "after": "Pending"}
        message = addon_status(got, "broken")["message"]
        assert message.startswith("add-on 'broken', manifests:9: ")
        assert "region" in message
        assert condition(got, "Synced")["reason"] == "TemplateFailed"
        workload = h.workload("c1")
        assert workload.find("v1", "ConfigMap", "fine", "apps") is None
        assert workload.find("v1", "ConfigMap", "ok", "apps") is not None

        def warnings() -> list[dict]:
            events = h.mgmt.list("v1", "Event", namespace="team-a")
            return [e for e in events if e["type"] == "Warning"]

        await eventually(lambda: bool(warnings()), within=5, what="a Warning event")
        assert [e["reason"] for e in warnings()] == ["TemplateFailed"]
        assert warnings()[0]["involvedObject"]["name"] == "stack"
        assert warnings()[0]["message"].startswith("add-on broken on team-a/c1: Failed: ")

        # Fixing the template brings the add-on and its dependant up.
        broken["manifests"] = broken["manifests"].replace("cluster.labels.region", "cluster.name")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle("stack", lambda b: set(addon_phases(b).values()) == {"Healthy"})
        assert workload.get("v1", "ConfigMap", "bad", "apps")["data"] == {"region": "c1"}


async def test_a_broken_chart_template_names_the_chart_file(tmp_path: Path) -> None:
    chart = tmp_path / "repo" / "wobbly"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: wobbly\nversion: 1.0.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
        "  a: {{ .Values.missing.deeper }}\n"
    )
    wobbly = {
        "name": "wobbly",
        "namespace": "apps",
        "helm": {
            "repository": f"file://{tmp_path / 'repo'}",
            "chart": "wobbly",
            "version": "1.0.0",
        },
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [wobbly, configmap_addon("other")]), field_manager="test")
        got = await h.wait_bundle("stack", settled("wobbly", "other"))
        assert addon_phases(got) == {"wobbly": "Failed", "other": "Healthy"}
        assert addon_status(got, "wobbly")["message"].startswith(
            "add-on 'wobbly', wobbly/templates/cm.yaml:6: "
        )


async def test_an_unknown_kind_fails_the_addon_before_anything_is_written(tmp_path: Path) -> None:
    widget = {
        "name": "widget",
        "namespace": "apps",
        "manifests": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n"
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
        ),
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [widget, configmap_addon("other")]), field_manager="test")
        got = await h.wait_bundle("stack", settled("widget", "other"))
        assert addon_phases(got) == {"widget": "Failed", "other": "Healthy"}
        assert addon_status(got, "widget")["message"] == (
            "add-on 'widget': Widget w: the server does not serve kind 'Widget' in example.com/v1"
        )
        assert h.workload("c1").find("v1", "ConfigMap", "first", "apps") is None


async def test_a_dependency_cycle_is_reported_not_hung_on(tmp_path: Path) -> None:
    addons = [configmap_addon("a", "b"), configmap_addon("b", "a")]
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: condition(b, "Synced").get("status") == "False"
        )
        synced = condition(got, "Synced")
        assert synced["reason"] == "InvalidSpec"
        assert synced["message"] == "spec.addons[0].dependsOn: dependency cycle: a -> b -> a"
        assert condition(got, "Ready")["reason"] == "InvalidSpec"
        await h.settle()
        assert h.workload("c1").writes.count(field_manager="aifleet") == 0


async def test_a_bundle_may_not_target_another_namespace(tmp_path: Path) -> None:
    ref = {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "name": "c1",
        "namespace": "team-b",
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(bundle("stack", [configmap_addon("a")], clusterRef=ref), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: condition(b, "Synced").get("status") == "False"
        )
        assert condition(got, "Synced")["message"] == (
            "spec.clusterRef.namespace: a bundle may only target clusters in its own namespace "
            "(team-a)"
        )


async def test_an_object_refused_by_the_cluster_fails_its_addon_and_status_goes_on(
    tmp_path: Path,
) -> None:
    elsewhere = {
        "name": "elsewhere",
        "namespace": "apps",
        "manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nowhere}\n",
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [elsewhere, configmap_addon("fine")]), field_manager="test")
        got = await h.wait_bundle("stack", settled("elsewhere", "fine"))
        assert addon_phases(got) == {"elsewhere": "Failed", "fine": "Healthy"}
        assert "nowhere" in addon_status(got, "elsewhere")["message"]
