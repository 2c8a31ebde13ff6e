"""Log lines a person and a log pipeline can read: a target's start and finish, each add-on
phase transition, failures with their cause, leadership; JSON or text; no Secret data."""

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.leader import LeaderElector, LeadershipLostError, LeaseSettings
from function.reconciler.logs import formatter
from function.reconciler.shards import Shards, ShardSettings
from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    NAMESPACE,
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
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


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Every captured record as the JSON line ``--log-format json`` writes, parsed."""
    return [json.loads(formatter("json").format(r)) for r in caplog.records]


async def test_leadership_changes_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(tmp_path, start=False) as h:
        client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        try:

            def candidate(identity: str) -> LeaderElector:
                settings = LeaseSettings(
                    "kube-system",
                    identity,
                    lease_duration=0.6,
                    renew_deadline=0.3,
                    retry_period=0.1,
                )
                return LeaderElector(client, settings)

            one, two = candidate("one"), candidate("two")
            await asyncio.wait_for(one.acquire(), 5)
            waiting = asyncio.create_task(two.acquire())
            await eventually(
                lambda: any(getattr(r, "leadership", None) == "standby" for r in caplog.records),
                within=5,
                what="two standing by",
            )
            # Someone else writes the Lease: one cannot renew it and gives leadership up.
            lease = h.mgmt.get(
                "coordination.k8s.io/v1", "Lease", "aifleet-reconciler", "kube-system"
            )
            lease["spec"]["holderIdentity"] = "intruder"
            h.mgmt.update(lease)
            with pytest.raises(LeadershipLostError):
                await asyncio.wait_for(one.hold(), 5)
            await asyncio.wait_for(waiting, 5)  # the intruder never renews: two takes over
            await two.resign()
        finally:
            await client.close()
    lines = [line for line in json_lines(caplog) if "leadership" in line]
    assert [(line["leadership"], line["identity"], line.get("holder")) for line in lines] == [
        ("acquired", "one", "one"),
        ("standby", "two", "one"),
        ("lost", "one", "intruder"),
        ("acquired", "two", "two"),
        ("released", "two", None),
    ]
    assert {line["lease"] for line in lines} == {"aifleet-reconciler"}
    levels = {line["leadership"]: line["level"] for line in lines}
    assert levels == {"acquired": "info", "standby": "info", "lost": "error", "released": "info"}


async def test_shards_acquired_released_and_lost_are_logged_with_shard_and_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    def noop(gained: frozenset[int], lost: frozenset[int]) -> None:
        return None

    async with running(tmp_path, start=False) as h:
        client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        try:

            def replica(identity: str) -> Shards:
                settings = ShardSettings(
                    "kube-system",
                    identity,
                    2,
                    lease_duration=1.0,
                    renew_deadline=0.7,
                    retry_period=0.1,
                )
                return Shards(client, settings)

            a = replica("a")
            await a.step(noop)
            assert a.held == {0, 1}
            b = replica("b")
            for _ in range(30):  # b joins: a gives one shard back, b takes it
                await b.step(noop)
                await a.step(noop)
                if len(a.held) == len(b.held) == 1:
                    break
                await asyncio.sleep(0.1)
            assert len(a.held) == len(b.held) == 1
            # b's shard Lease is written by someone else: b loses that shard.
            (taken,) = b.held
            name = b.lease_name(taken)
            lease = h.mgmt.get("coordination.k8s.io/v1", "Lease", name, "kube-system")
            lease["spec"]["holderIdentity"] = "intruder"
            h.mgmt.update(lease)
            await b.step(noop)
            assert taken not in b.held
            (kept,) = a.held
        finally:
            await client.close()
    lines = [line for line in json_lines(caplog) if "shard" in line]
    seen = [(line["leadership"], line["identity"], line["shard"], line["holder"]) for line in lines]
    assert ("acquired", "a", kept, "a") in seen
    assert ("released", "a", taken, None) in seen
    assert ("acquired", "b", taken, "b") in seen
    assert seen[-1] == ("lost", "b", taken, "intruder")
    assert lines[-1]["level"] == "warning"
    assert lines[-1]["lease"] == name
    assert [s[:3] for s in seen].count(("acquired", "a", taken)) == 1
    held = [line for line in json_lines(caplog) if "shards" in line]
    assert (held[0]["identity"], held[0]["shards"], held[0]["gained"]) == ("a", [0, 1], [0, 1])
    assert (held[-1]["identity"], held[-1]["shards"], held[-1]["lost"]) == ("b", [], [taken])


async def test_a_cluster_going_down_and_coming_back_is_logged_with_its_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fast = Timing(waiting=0.05, gpu=0.1, status=0.02, reconnect=0.4)
    async with running(tmp_path, timing=fast) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        with workload.faults.offline():
            h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
            got = await h.wait_bundle(
                "stack",
                lambda b: any(
                    c.get("connectionStatus") == "Down"
                    for c in b.get("status", {}).get("clusters", [])
                ),
            )
        await h.wait_bundle("stack", lambda b: addon_phases(b) == {"a": "Healthy"}, within=10)
    entry = got["status"]["clusters"][0]
    lines = json_lines(caplog)
    down = [line for line in lines if line.get("connectionStatus") == "Down"]
    assert len(down) == 1
    assert (down[0]["level"], down[0]["reason"], down[0]["failures"]) == (
        "warning",
        "ClusterDown",
        3,
    )
    assert down[0]["cluster"].endswith(f"{NAMESPACE}/c1")
    assert down[0]["cause"] == entry["connectionMessage"]
    assert down[0]["cause"].startswith("workload cluster unreachable: ")
    unreachable = [
        line
        for line in lines
        if line.get("addon") == "a" and line.get("reason") == "ClusterUnreachable"
    ]
    assert unreachable[0]["level"] == "warning"
    assert unreachable[0]["cause"].startswith("workload cluster unreachable: ")
    up = [line for line in lines if line.get("connectionStatus") == "Up"]
    assert len(up) == 1 and up[0]["downSince"] == entry["downSince"]
    healthy = [
        line for line in lines if line.get("addon") == "a" and line.get("phase") == "Healthy"
    ]
    assert healthy[-1]["from"] == "Waiting" and healthy[-1]["reason"] is None
