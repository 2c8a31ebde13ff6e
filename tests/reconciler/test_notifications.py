"""Trigger notifications delivered to local webhook receivers, retried, reported in status."""

from __future__ import annotations

import base64
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from function.model.events import EventTriggerStatus
from function.model.notifications import NotificationType
from function.reconciler.notify import Notice, payload
from function.reconciler.triggerstatus import phase_notices
from tests.reconciler.harness import NAMESPACE, capi_cluster, running
from tests.reconciler.triggers_harness import (
    events_of,
    gpu_source,
    trigger,
    utilization,
    wait_trigger,
)

TOKEN = "s3cret-token"


def secret(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"url": base64.b64encode(url.encode()).decode()},
    }


def delivery(obj: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in (obj.get("status") or {}).get("notifications") or []:
        if entry["name"] == name:
            return dict(entry)
    return {}


async def test_a_match_is_posted_to_webhooks_retried_and_reported_without_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    received: dict[str, list[Any]] = {"hook": [], "slack": []}

    async def hook(request: web.Request) -> web.Response:
        received["hook"].append(await request.json())
        return web.Response(status=500 if len(received["hook"]) <= 2 else 200)

    async def slack(request: web.Request) -> web.Response:
        received["slack"].append(await request.json())
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/slack", slack)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    try:
        async with running(tmp_path) as h:
            h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
            workload = await h.wait_workload("c1")
            utilization(workload, "85")
            h.mgmt.create(secret("hook", f"http://127.0.0.1:{port}/hook?token={TOKEN}"))
            h.mgmt.create(secret("slack", f"http://127.0.0.1:{port}/slack?token={TOKEN}"))
            h.mgmt.create(secret("pager", f"http://127.0.0.1:{closed}/page?token={TOKEN}"))
            h.mgmt.apply(gpu_source(), field_manager="test")
            notifications = [
                {"name": "ops", "type": "Webhook", "secretRef": {"name": "hook"}},
                {"name": "chat", "type": "Slack", "secretRef": {"name": "slack"}},
                {"name": "pager", "type": "Webhook", "secretRef": {"name": "pager"}},
                {"name": "events", "type": "KubernetesEvent"},
            ]
            h.mgmt.apply(
                trigger("scale-up", "gpu-utilization-high", notifications=notifications),
                field_manager="test",
            )
            got = await wait_trigger(
                h,
                "scale-up",
                lambda t: (
                    delivery(t, "ops").get("status") == "Delivered"
                    and delivery(t, "chat").get("status") == "FailedToDeliver"
                    and delivery(t, "pager").get("status") == "FailedToDeliver"
                ),
            )
            ops, chat, pager = delivery(got, "ops"), delivery(got, "chat"), delivery(got, "pager")
            assert ops["attempts"] == 3
            assert ops["event"].startswith("Matched: ConfigMap monitoring/gpu-utilization on c1")
            assert chat["attempts"] == 5
            assert chat["message"] == "the receiver answered HTTP 500"
            assert pager["attempts"] == 5
            assert pager["message"] == "could not reach the receiver (ClientConnectorError)"
            assert len(received["hook"]) == 3
            assert received["hook"][0]["reason"] == "Matched"
            assert received["hook"][0]["subject"] == "EventTrigger team-a/scale-up"
            assert received["slack"][0]["text"].startswith(":white_check_mark: EventTrigger")
            assert events_of(h, "Matched")
            everything = json.dumps(got) + json.dumps(h.mgmt.list("v1", "Event", NAMESPACE))
            assert TOKEN not in everything and TOKEN not in caplog.text
            for where in (port, closed):
                assert f":{where}" not in json.dumps(got["status"]) + caplog.text
    finally:
        await runner.cleanup()


def test_teams_receives_a_message_card() -> None:
    notice = Notice("EventTrigger team-a/scale-up", "Failed", "add-on x failed", warning=True)
    card = payload(NotificationType.TEAMS, notice)
    assert card["@type"] == "MessageCard"
    assert card["title"] == "EventTrigger team-a/scale-up: Failed"
    assert card["text"] == "add-on x failed"
    assert payload(NotificationType.SLACK, notice) == {
        "text": ":warning: EventTrigger team-a/scale-up: Failed: add-on x failed"
    }


def test_an_addon_failing_and_recovering_are_notices_and_a_steady_phase_is_not() -> None:
    def status(phase: str) -> EventTriggerStatus:
        return EventTriggerStatus.model_validate(
            {
                "clusters": [
                    {
                        "clusterRef": {"apiVersion": "v1", "kind": "Cluster", "name": "c1"},
                        "instantiated": [{"bundle": "scale-up-c1", "phases": {"server": phase}}],
                    }
                ]
            }
        )

    healthy, failed = status("Healthy"), status("Failed")
    assert phase_notices(healthy, failed.clusters) == [
        ("Failed", "add-on server of scale-up-c1 failed", True)
    ]
    assert phase_notices(failed, healthy.clusters) == [
        ("Healthy", "add-on server of scale-up-c1 is healthy again", False)
    ]
    assert phase_notices(healthy, healthy.clusters) == []
    assert phase_notices(failed, failed.clusters) == []
