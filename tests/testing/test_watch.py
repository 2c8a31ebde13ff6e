"""Watches through `kubernetes.watch.Watch().stream`: replay, live events, 410, bookmarks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.exceptions import ApiException

from function.testing import EmulatedCluster, Fleet

from .conftest import config_map, widget_crd


def events(stream: Iterator[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) of every event, bookmarks as (BOOKMARK, resourceVersion)."""
    seen = []
    for event in stream:
        obj = event["raw_object"]
        if event["type"] == "BOOKMARK":
            seen.append(("BOOKMARK", obj["metadata"]["resourceVersion"]))
        else:
            seen.append((event["type"], obj["metadata"]["name"]))
    return seen


def test_resuming_replays_added_modified_deleted(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.delete_namespaced_config_map("a", "default")
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=1
    )
    assert events(stream) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_resource_version_starts_with_current_objects(
    core: client.CoreV1Api,
) -> None:
    for name in ("x", "y"):
        core.create_namespaced_config_map("default", config_map(name))
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    assert events(stream) == [("ADDED", "x"), ("ADDED", "y")]


def test_live_events_reach_an_open_watch(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    watcher = watch.Watch()
    received: list[tuple[str, str]] = []

    def consume() -> None:
        stream = watcher.stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=10
        )
        for event in stream:
            received.append((event["type"], event["object"].metadata.name))
            if len(received) == 2:
                watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map("default", config_map("live"))
    core.delete_namespaced_config_map("live", "default")
    thread.join(timeout=10)
    assert received == [("ADDED", "live"), ("DELETED", "live")]


def test_expired_resource_version_is_410_gone() -> None:
    with Fleet(simulation=False, watch_history=2) as fleet:
        cluster = fleet.add_cluster("small-history")
        core = client.CoreV1Api(cluster.api_client())
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for index in range(4):
            core.create_namespaced_config_map("default", config_map(f"c{index}"))
        with pytest.raises(ApiException) as error:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=start,
                    timeout_seconds=1,
                )
            )
        assert error.value.status == 410
        assert "Expired: too old resource version" in str(error.value.reason)
        recent = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", config_map("after"))
        resumed = watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=recent, timeout_seconds=1
        )
        assert events(resumed) == [("ADDED", "after")]


def test_bookmarks_carry_the_current_resource_version() -> None:
    with Fleet(simulation=False, bookmark_interval=0.05) as fleet:
        cluster = fleet.add_cluster("bookmarks")
        core = client.CoreV1Api(cluster.api_client())
        core.create_namespaced_config_map("default", config_map("seen"))
        current = str(cluster.resource_version)
        stream = watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
        seen = events(stream)
    assert seen[0] == ("ADDED", "seen")
    assert ("BOOKMARK", current) in seen[1:]


def test_no_bookmarks_unless_asked() -> None:
    with Fleet(simulation=False, bookmark_interval=0.05) as fleet:
        core = client.CoreV1Api(fleet.add_cluster("quiet").api_client())
        stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
        assert events(stream) == []


def test_label_selector_watch_sees_objects_leave_and_enter(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", config_map("m", labels={"tier": "web"}))
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "db"}}})
    core.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"tier": "web"}}})
    core.create_namespaced_config_map("default", config_map("other", labels={"tier": "db"}))
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="tier=web",
        resource_version=start,
        timeout_seconds=1,
    )
    assert events(stream) == [("ADDED", "m"), ("DELETED", "m"), ("ADDED", "m")]


def test_field_selector_watch_on_one_name(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for name in ("wanted", "unwanted"):
        core.create_namespaced_config_map("default", config_map(name))
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        field_selector="metadata.name=wanted",
        resource_version=start,
        timeout_seconds=1,
    )
    assert events(stream) == [("ADDED", "wanted")]


def test_dropped_watches_end_the_stream(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    opened = threading.Event()
    finished = threading.Event()

    def consume() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=30
        )
        for _ in stream:
            opened.set()
        finished.set()

    cluster.create(config_map("first"))
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert opened.wait(10)
    assert cluster.faults.drop_watches() == 1
    assert finished.wait(10)


def test_send_initial_events_ends_with_a_marked_bookmark(
    cluster: EmulatedCluster, dyn: dynamic.DynamicClient
) -> None:
    cluster.create(config_map("one"))
    config_maps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    stream = config_maps.watch(
        namespace="default",
        timeout=1,
        allow_watch_bookmarks=True,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
    )
    seen = [event["raw_object"] for event in stream]
    assert seen[0]["metadata"]["name"] == "one"
    annotations = seen[1]["metadata"].get("annotations", {})
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_watching_another_served_version_rewrites_api_version(
    cluster: EmulatedCluster, api: client.ApiClient
) -> None:
    cluster.create(widget_crd(versions=("v1alpha1", "v1")))
    cluster.create(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    )
    custom = client.CustomObjectsApi(api)
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        "example.com",
        "v1alpha1",
        "default",
        "widgets",
        timeout_seconds=1,
    )
    assert [e["raw_object"]["apiVersion"] for e in stream] == ["example.com/v1alpha1"]
