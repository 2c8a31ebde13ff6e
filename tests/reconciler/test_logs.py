"""Log lines a person and a log pipeline can read: a target's start and finish, each add-on
phase transition, failures with their cause, leadership; JSON or text; no Secret data."""

import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.leader import LeaderElector, LeaseSettings
from function.reconciler.logs import formatter
from tests.reconciler.harness import (
    NAMESPACE,
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    running,
)


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "function.reconciler.x", logging.WARNING, __file__, 1, message, (), None
    )
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_json_lines_carry_the_fields_and_text_lines_read_as_sentences() -> None:
    line = formatter("json").format(record("add-on Failed", bundle="team-a/x", reason="Bad"))
    doc = json.loads(line)
    assert (doc["msg"], doc["level"], doc["logger"]) == (
        "add-on Failed",
        "warning",
        "function.reconciler.x",
    )
    assert (doc["bundle"], doc["reason"]) == ("team-a/x", "Bad")
    assert doc["timestamp"].endswith("Z")
    text = formatter("text").format(record("add-on Failed", bundle="team-a/x"))
    assert "add-on Failed" in text
    assert "bundle=team-a/x" in text
    assert not text.lstrip().startswith("{")


async def test_a_targets_work_is_logged_line_by_line_without_secret_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    broken = configmap_addon("broken", data="{{ cluster.labels.nowhere.deeper }}")
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("ok"), broken]), field_manager="test")
        await h.wait_bundle(
            "stack", lambda b: set(addon_phases(b).values()) == {"Healthy", "Failed"}
        )
        await asyncio.sleep(0.2)
        secret = h.mgmt.get("v1", "Secret", "c1-kubeconfig", NAMESPACE)
    lines = [json.loads(formatter("json").format(r)) for r in caplog.records]
    mine = [line for line in lines if line.get("bundle") == f"{NAMESPACE}/stack"]
    started = [line for line in mine if line["msg"] == "target started applying"]
    assert started and started[0]["generation"] == 1
    assert started[0]["cluster"].endswith(f"{NAMESPACE}/c1")
    healthy = [line for line in mine if line.get("addon") == "ok" and line["phase"] == "Healthy"]
    assert healthy and healthy[0]["level"] == "info"
    failed = [line for line in mine if line.get("addon") == "broken" and line["phase"] == "Failed"]
    assert failed[0]["level"] == "warning"
    assert failed[0]["reason"] == "TemplateFailed"
    assert failed[0]["cause"].startswith("add-on 'broken', manifests:")
    finished = [line for line in mine if line["msg"] == "target finished applying"]
    assert len(finished) == 1
    assert (finished[0]["failed"], finished[0]["ready"]) == (["broken"], False)

    # Neither the kubeconfig Secret's data nor the kubeconfig appears in any line.
    encoded = secret["data"]["value"]
    kubeconfig = base64.b64decode(encoded).decode()
    everything = "\n".join(formatter("json").format(r) for r in caplog.records)
    assert "users:" in kubeconfig
    assert encoded not in everything
    assert kubeconfig not in everything
    assert kubeconfig.split("users:", 1)[1] not in everything


async def test_leadership_changes_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(tmp_path) as h:
        client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        settings = LeaseSettings(
            "kube-system", "one", lease_duration=0.6, renew_deadline=0.3, retry_period=0.1
        )
        elector = LeaderElector(client, settings)
        await asyncio.wait_for(elector.acquire(), 5)
        await client.close()
    lines = [json.loads(formatter("json").format(r)) for r in caplog.records]
    acquired = [line for line in lines if line.get("leadership") == "acquired"]
    assert acquired[0]["identity"] == "one"
    assert acquired[0]["lease"] == "aifleet-reconciler"
