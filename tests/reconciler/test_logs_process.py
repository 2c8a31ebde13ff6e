"""``aifleet reconcile --log-format json`` as a process: every line it writes is a JSON object,
with one line per leadership change, per target start and finish, per add-on phase transition
and per failure with its cause; and no Secret value the add-ons template ever appears."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.reconciler.harness import (
    NAMESPACE,
    Harness,
    addon_phases,
    bundle,
    capi_cluster,
    eventually,
    running,
)

PASSWORD = "s3cret-Val-9f2"
ENCODED = base64.b64encode(PASSWORD.encode()).decode()
LEASES = "crossplane-system"
SECRET_MANIFEST = (
    "apiVersion: v1\nkind: Secret\nmetadata: {name: app-creds}\n"
    "stringData:\n  password: '{{ resources.creds.data.password | b64dec }}'\n"
    "data:\n  token: '{{ resources.creds.data.password }}'\n"
)
LOOKUP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lookup}\ndata:\n" + (
    "  zone: '{{ cluster.labels[resources.creds.data.password | b64dec] }}'\n"
)
"""A template error whose Jinja2 message would quote the Secret's value."""
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: op}\n"
    "spec:\n  replicas: 1\n  selector: {matchLabels: {app: op}}\n"
    "  template:\n    metadata: {labels: {app: op}}\n"
    "    spec: {containers: [{name: op, image: op:1}]}\n"
)
FAILING_CHART = '{{ fail (printf "refused password %s" .Values.password) }}\n'
"""A chart whose Helm error would quote the (templated) value it was given."""


def _chart(root: Path) -> Path:
    chart = root / "repo" / "picky"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: picky\nversion: 1.0.0\n")
    (chart / "templates" / "cm.yaml").write_text(FAILING_CHART)
    return root / "repo"


def _process(h: Harness, tmp_path: Path) -> subprocess.Popen[bytes]:
    kubeconfig = tmp_path / "mgmt.yaml"
    kubeconfig.write_text(yaml.safe_dump(h.mgmt.kubeconfig()))
    command = [sys.executable, "-m", "function.main", "reconcile", "--kubeconfig"]
    command += [str(kubeconfig), "--log-format", "json", "--leader-elect"]
    command += ["--identity", "proc", "--lease-namespace", LEASES, "--lease-duration", "2"]
    command += ["--probe-address", "", "--chart-cache", str(tmp_path / "charts")]
    log = (tmp_path / "reconciler.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def _stack(syncMode: str = "ContinuousWithDriftDetection") -> dict[str, Any]:  # noqa: N803
    return bundle(
        "stack",
        [
            {"name": "secret", "namespace": "apps", "manifests": SECRET_MANIFEST},
            {"name": "ok", "dependsOn": ["secret"], "namespace": "apps", "manifests": DEPLOYMENT},
            {"name": "lookup", "namespace": "apps", "manifests": LOOKUP},
            {
                "name": "chart",
                "namespace": "apps",
                "helm": {
                    "repository": "file://{root}",
                    "chart": "picky",
                    "version": "1.0.0",
                    "values": {"password": "{{ resources.creds.data.password | b64dec }}"},
                },
            },
        ],
        syncMode=syncMode,
        templateResourceRefs=[
            {
                "identifier": "creds",
                "resource": {"apiVersion": "v1", "kind": "Secret", "name": "creds"},
            }
        ],
    )


async def test_every_line_is_json_with_its_fields_and_no_secret_value(tmp_path: Path) -> None:
    repo = _chart(tmp_path)
    async with running(tmp_path, start=False) as h:
        h.mgmt.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": NAMESPACE},
                "data": {"password": ENCODED},
            }
        )
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.simulation.set_delay(0.5, "deployment-available")  # a Waiting step first
        stack = _stack()
        stack["spec"]["addons"][3]["helm"]["repository"] = f"file://{repo}"
        h.mgmt.apply(stack, field_manager="test")
        process = _process(h, tmp_path)
        try:
            wanted = {"secret": "Healthy", "ok": "Healthy", "lookup": "Failed", "chart": "Failed"}
            await h.wait_bundle("stack", lambda b: addon_phases(b) == wanted, within=30)
            # A hand edit of the templated Secret is drift: restored, and logged as such.
            workload.patch(
                "v1",
                "Secret",
                "app-creds",
                {"data": {"password": base64.b64encode(b"by-hand").decode()}},
                namespace="apps",
                field_manager="kubectl-edit",
            )
            await eventually(
                lambda: (
                    workload.get("v1", "Secret", "app-creds", "apps")["data"]["password"] == ENCODED
                ),
                within=10,
                what="the Secret restored",
            )
            status = h.bundle("stack")["status"]
        finally:
            process.send_signal(signal.SIGINT)  # a graceful stop: the Lease is handed back
            process.wait(timeout=15)
        kubeconfig = h.mgmt.get("v1", "Secret", "c1-kubeconfig", NAMESPACE)["data"]["value"]

    text = (tmp_path / "reconciler.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"msg", "level", "logger", "timestamp"} <= set(line) for line in lines)
    mine = [line for line in lines if line.get("bundle") == f"{NAMESPACE}/stack"]

    leadership = [(line["leadership"], line["identity"]) for line in lines if "leadership" in line]
    assert leadership == [("acquired", "proc"), ("released", "proc")]

    started = [line for line in mine if line["msg"] == "target started applying"]
    assert [(s["generation"], s["cluster"].endswith(f"{NAMESPACE}/c1")) for s in started] == [
        (1, True)
    ]
    # One line per phase transition of each add-on, each naming the phase it left.
    steps = {
        addon: [(s["from"], s["phase"]) for s in mine if s.get("addon") == addon and "phase" in s]
        for addon in wanted
    }
    assert steps["ok"] == [(None, "Waiting"), ("Waiting", "Healthy")]
    assert steps["secret"] == [(None, "Healthy")]
    assert steps["lookup"] == steps["chart"] == [(None, "Failed")]

    failures = {s["addon"]: s for s in mine if s.get("phase") == "Failed"}
    assert set(failures) == {"lookup", "chart"}
    by_addon = {a["name"]: a for a in status["clusters"][0]["addons"]}
    for addon, reason in (("lookup", "TemplateFailed"), ("chart", "ChartRenderFailed")):
        line = failures[addon]
        assert (line["level"], line["reason"]) == ("warning", reason)
        assert line["cause"] == by_addon[addon]["message"]  # the cause, as status says it
        assert "<redacted>" in line["cause"]
    finished = [s for s in mine if s["msg"] == "target finished applying"]
    assert [(f["ready"], f["failed"]) for f in finished] == [(False, ["lookup", "chart"])]
    drift = [line for line in mine if line.get("object") == "Secret apps/app-creds"]
    assert {line.get("drift") for line in drift} >= {"changed"}
    assert [line["paths"] for line in drift if "paths" in line] == [["/data/password"]]

    # Neither the Secret's value, in any form, nor the kubeconfig is in any line.
    for secret in (PASSWORD, ENCODED, kubeconfig, base64.b64decode(kubeconfig).decode()):
        assert secret not in text
    assert PASSWORD not in json.dumps(status)
