"""Shared watches of workload clusters for event triggers, against the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter

from function.kube.client import KubeClient
from function.kube.clients import adapter_from_kubeconfig
from function.reconciler.eventwatch import EventWatches, WatchKey
from function.reconciler.store import GroupKind, ObjectId
from function.testing import Fleet
from tests.reconciler.harness import eventually

CLUSTER = ObjectId(GroupKind("cluster.x-k8s.io", "Cluster"), "team-a", "w1")


def config_map(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"value": value},
    }


async def test_one_watch_per_kind_and_cluster_shared_started_and_stopped_by_its_owners() -> None:
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("w1")
        cluster.create(config_map("a", "1"))
        client = adapter_from_kubeconfig(cluster.kubeconfig())
        changes: Counter[ObjectId] = Counter()

        async def connect(_: ObjectId) -> KubeClient:
            return client

        watches = EventWatches(connect, lambda c: changes.update([c]))
        cms = WatchKey(CLUSTER, "", "v1", "ConfigMap")
        deployments = WatchKey(CLUSTER, "apps", "", "Deployment")
        try:
            watches.want("t1", {cms})
            watches.want("t2", {cms, deployments})
            assert watches.active() == sorted([cms, deployments])
            assert not watches.synced()  # nothing listed yet
            view = watches.view(cms)
            assert view is not None
            await eventually(lambda: view.synced, within=5, what="the first list")
            assert [k[3] for k in view.objects] == ["a"]
            deployments_view = watches.view(deployments)
            assert deployments_view is not None
            await eventually(lambda: deployments_view.synced, within=5, what="apps/v1 listed")
            assert watches.synced()

            cluster.create(config_map("b", "2"))
            await eventually(lambda: len(view.objects) == 2, within=5, what="b seen")
            cluster.delete("v1", "ConfigMap", "a", "default")
            await eventually(lambda: len(view.objects) == 1, within=5, what="a gone")
            assert changes[CLUSTER] >= 4

            watches.want("t2", set())
            assert watches.active() == [cms]  # t1 still wants it
            watches.want("t1", set())
            assert watches.active() == []
            watched = cluster.requests.count(verb="watch", kind="ConfigMap")
            cluster.create(config_map("c", "3"))
            await asyncio.sleep(0.2)
            assert cluster.requests.count(verb="watch", kind="ConfigMap") == watched
        finally:
            await watches.close()
            await client.close()


async def test_a_dropped_watch_resumes_and_an_expired_one_lists_again_keeping_its_objects() -> None:
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("w1")
        cluster.create(config_map("a", "1"))
        client = adapter_from_kubeconfig(cluster.kubeconfig())

        async def connect(_: ObjectId) -> KubeClient:
            return client

        watches = EventWatches(connect, lambda _: None)
        key = WatchKey(CLUSTER, "", "v1", "ConfigMap")
        try:
            watches.want("t", {key})
            view = watches.view(key)
            assert view is not None
            await eventually(lambda: view.synced, within=5, what="the first list")
            cluster.faults.fail(410, verb="watch", kind="ConfigMap")
            cluster.faults.drop_watches("ConfigMap")
            await eventually(lambda: view.lists == 2, within=5, what="a relist after the 410")
            assert view.synced and [k[3] for k in view.objects] == ["a"]

            with cluster.faults.offline():
                cluster.faults.drop_watches("ConfigMap")
                await eventually(lambda: view.error is not None, within=5, what="the gap seen")
                assert [k[3] for k in view.objects] == ["a"]  # a gap clears nothing
            cluster.create(config_map("b", "2"))
            await eventually(lambda: len(view.objects) == 2, within=10, what="b after the gap")
            assert view.error is None
        finally:
            await watches.close()
            await client.close()


async def test_a_watch_may_keep_any_value_under_the_objects_whole_key() -> None:
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("w1")
        cluster.create(config_map("a", "1"))
        client = adapter_from_kubeconfig(cluster.kubeconfig())
        heard: list[tuple[tuple[str, str, str, str], str | None, str, bool]] = []

        async def connect(_: ObjectId) -> KubeClient:
            return client

        def value(obj: dict[str, object]) -> str:
            return str(obj["data"]["value"])  # type: ignore[index]

        def event(
            _: WatchKey, key: tuple[str, str, str, str], before: str | None, now: str, gone: bool
        ) -> None:
            heard.append((key, before, now, gone))

        watches = EventWatches(connect, lambda c: None, on_event=event, keep=value)
        cms = WatchKey(CLUSTER, "", "v1", "ConfigMap")
        a, b = ("v1", "ConfigMap", "default", "a"), ("v1", "ConfigMap", "default", "b")
        try:
            watches.want("t1", {cms})
            view = watches.view(cms)
            assert view is not None
            await eventually(lambda: view.synced, within=5, what="the first list")
            assert view.objects == {a: "1"}
            cluster.create(config_map("b", "2"))
            cluster.patch("v1", "ConfigMap", "a", {"data": {"value": "3"}}, namespace="default")
            cluster.delete("v1", "ConfigMap", "b", "default")
            await eventually(lambda: len(heard) == 4, within=5, what="four events")
            assert heard == [
                (a, None, "1", False),
                (b, None, "2", False),
                (a, "1", "3", False),
                (b, "2", "2", True),
            ]
            assert view.objects == {a: "3"}
        finally:
            await watches.close()
            await client.close()
