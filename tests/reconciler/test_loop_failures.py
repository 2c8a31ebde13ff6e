"""The four places a failure can be, told apart on the emulator: each its own reason and
message on the add-on, on the bundle's Synced condition, in a Warning event and a log line."""

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reconciler.harness import (
    Harness,
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

Obj = dict


def addon(obj: Obj, name: str) -> Obj:
    return next(a for a in obj["status"]["clusters"][0]["addons"] if a["name"] == name)


def reason_is(name: str, reason: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        clusters = (obj.get("status") or {}).get("clusters") or []
        addons = clusters[0]["addons"] if clusters else []
        return any(a["name"] == name and a.get("reason") == reason for a in addons)

    return check


async def warning(h: Harness, reason: str) -> Obj:
    """The Warning event of ``reason`` on the bundle ``stack``."""

    def found() -> list[Obj]:
        events = h.mgmt.list("v1", "Event", namespace="team-a")
        return [e for e in events if e["type"] == "Warning" and e["reason"] == reason]

    await eventually(lambda: bool(found()), within=5, what=f"a {reason} Warning event")
    event = found()[0]
    assert event["involvedObject"]["name"] == "stack"
    return event


def logged(caplog: pytest.LogCaptureFixture, reason: str) -> list[str]:
    """Warning lines naming ``reason``, with the cause."""
    return [
        str(getattr(r, "cause", ""))
        for r in caplog.records
        if r.levelno == logging.WARNING and getattr(r, "reason", None) == reason
    ]


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chart_dir(root: Path, name: str, template: str) -> Path:
    chart = root / "repo" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n")
    (chart / "templates" / "cm.yaml").write_text(template)
    return root / "repo"


async def test_an_unreachable_chart_repository_waits_with_its_own_reason_and_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    remote = {
        "name": "remote",
        "namespace": "apps",
        "helm": {"repository": f"http://127.0.0.1:{port}/charts", "chart": "x", "version": "1.0.0"},
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [remote, configmap_addon("other")]), field_manager="test")
        got = await h.wait_bundle("stack", reason_is("remote", "ChartRepositoryUnreachable"))
        status = addon(got, "remote")
        assert status["phase"] == "Waiting"
        assert status["message"].startswith("chart repository unreachable: add-on 'remote'")
        assert f"127.0.0.1:{port}" in status["message"]
        assert "workload cluster" not in status["message"]
        # The cluster answers: the add-on beside it is applied.
        got = await h.wait_bundle("stack", lambda b: addon_phases(b).get("other") == "Healthy")
        synced = condition(got, "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "ChartRepositoryUnreachable")
        assert synced["message"].startswith("add-on remote on team-a/c1: chart repository")
        event = await warning(h, "ChartRepositoryUnreachable")
        assert event["message"].startswith("add-on remote on team-a/c1: Waiting: chart repository")
        assert logged(caplog, "ChartRepositoryUnreachable")[0] == status["message"]


async def test_a_chart_that_does_not_render_fails_with_its_own_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = chart_dir(
        tmp_path,
        "wobbly",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
        "  a: {{ .Values.missing.deeper }}\n",
    )
    wobbly = {
        "name": "wobbly",
        "namespace": "apps",
        "helm": {"repository": f"file://{repo}", "chart": "wobbly", "version": "1.0.0"},
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [wobbly]), field_manager="test")
        got = await h.wait_bundle("stack", reason_is("wobbly", "ChartRenderFailed"))
        status = addon(got, "wobbly")
        assert status["phase"] == "Failed"
        assert status["message"].startswith("add-on 'wobbly', wobbly/templates/cm.yaml:6: ")
        synced = condition(got, "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "ChartRenderFailed")
        assert condition(got, "Ready")["reason"] == "AddonsFailed"
        event = await warning(h, "ChartRenderFailed")
        assert event["message"].startswith("add-on wobbly on team-a/c1: Failed: add-on 'wobbly'")
        assert logged(caplog, "ChartRenderFailed")[0] == status["message"]
        assert h.workload("c1").find("v1", "ConfigMap", "x", "apps") is None


async def test_a_template_error_fails_with_its_own_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = configmap_addon("broken", data="{{ cluster.labels.nowhere.deeper }}")
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [broken]), field_manager="test")
        got = await h.wait_bundle("stack", reason_is("broken", "TemplateFailed"))
        status = addon(got, "broken")
        assert status["phase"] == "Failed"
        assert status["message"].startswith("add-on 'broken', manifests:")
        synced = condition(got, "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "TemplateFailed")
        event = await warning(h, "TemplateFailed")
        assert event["message"].startswith("add-on broken on team-a/c1: Failed: add-on 'broken'")
        assert logged(caplog, "TemplateFailed")[0] == status["message"]


async def test_an_unreachable_workload_cluster_waits_with_its_own_reason_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        with workload.faults.offline():
            h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
            got = await h.wait_bundle("stack", reason_is("a", "ClusterUnreachable"))
            status = addon(got, "a")
            assert status["phase"] == "Waiting"
            assert status["message"].startswith("workload cluster unreachable: ")
            synced = condition(got, "Synced")
            assert (synced["status"], synced["reason"]) == ("False", "ClusterUnreachable")
            event = await warning(h, "ClusterUnreachable")
            assert event["message"].startswith("add-on a on team-a/c1: Waiting: workload cluster")
            assert logged(caplog, "ClusterUnreachable")[0] == status["message"]
        got = await h.wait_bundle("stack", is_ready, within=30)
        assert "reason" not in addon(got, "a")
        assert condition(got, "Synced")["reason"] == "ReconcileSuccess"
