"""What the reconciler remembers, with no workers: the test reconciles keys by hand.

A `TargetKey` reconcile decides from the store as it is now (the bundle's spec, the cluster's
labels) whether its cluster is a target, whatever an earlier `BundleKey` reconcile resolved;
and a bundle that is gone leaves nothing of itself in memory.
"""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from function.reconciler.keys import BundleKey, StatusKey, TargetKey, requeue
from function.reconciler.store import ObjectId
from function.reconciler.targets import BUNDLE, CAPI_CLUSTER
from tests.reconciler.harness import (
    BUNDLE_API,
    CAPI,
    NAMESPACE,
    Harness,
    Obj,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

PROD: Obj = {"matchLabels": {"env": "prod"}}
FLEET = BundleKey(NAMESPACE, "fleet")


def _cluster(name: str) -> ObjectId:
    return ObjectId(CAPI_CLUSTER, NAMESPACE, name)


def _fleet(selector: Obj) -> Obj:
    return bundle("fleet", [configmap_addon("a")], clusterSelector=selector, clusterRef=None)


async def _drain(h: Harness, until: Callable[[], bool] = lambda: True) -> None:
    """Reconcile every key the reconciler queues, as its workers would, until ``until`` holds
    and no key has come for a while."""
    assert h.app is not None
    queue, reconciler = h.app.queue, h.app.reconciler
    deadline = time.monotonic() + 20
    quiet_since = time.monotonic()
    while not until() or time.monotonic() - quiet_since < 0.3:
        assert time.monotonic() < deadline, "the reconciler kept queueing keys"
        if not len(queue):
            await asyncio.sleep(0.02)
            continue
        key = await queue.get()
        try:
            requeue(queue, key, await reconciler.reconcile(key))
        finally:
            queue.done(key)
        quiet_since = time.monotonic()


def _status_clusters(h: Harness) -> list[str]:
    status = h.bundle("fleet").get("status") or {}
    return [c["clusterRef"]["name"] for c in status.get("clusters") or []]


def _has_addon(h: Harness, cluster: str) -> bool:
    return h.workload(cluster).find("v1", "ConfigMap", "a", "apps") is not None


async def _relabel(h: Harness, name: str, env: str) -> None:
    """Relabel a cluster and wait until the reconciler's store holds the new labels."""
    assert h.app is not None
    store = h.app.store
    h.mgmt.apply(capi_cluster(name, labels={"env": env}), field_manager="test")
    await eventually(
        lambda: (
            ((store.get_id(_cluster(name)) or {}).get("metadata") or {}).get("labels")
            == {"env": env}
        ),
        within=10,
        what=f"{name} relabelled in the store",
    )


async def test_a_target_reconcile_withdraws_from_a_cluster_the_changed_selector_leaves(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, workers=0) as h:
        assert h.app is not None
        h.mgmt.apply(capi_cluster("c1", labels={"env": "prod"}), field_manager="test")
        h.mgmt.apply(capi_cluster("c2", labels={"env": "prod", "tier": "a"}), field_manager="test")
        h.mgmt.apply(_fleet(PROD), field_manager="test")
        await _drain(h, lambda: is_ready(h.bundle("fleet")) and len(_status_clusters(h)) == 2)
        assert _has_addon(h, "c1") and _has_addon(h, "c2")

        # The selector now leaves c1 out; no BundleKey reconcile runs, only c1's and c2's.
        h.mgmt.apply(_fleet({"matchLabels": {"env": "prod", "tier": "a"}}), field_manager="test")
        store = h.app.store
        await eventually(
            lambda: (store.get(BUNDLE, NAMESPACE, "fleet") or {})["metadata"]["generation"] == 2,
            within=10,
            what="the new selector in the store",
        )
        await h.app.reconciler.reconcile(TargetKey(FLEET, _cluster("c1")))
        assert not _has_addon(h, "c1")
        assert _has_addon(h, "c2")
        await h.app.reconciler.reconcile(TargetKey(FLEET, _cluster("c2")))
        await h.app.reconciler.reconcile(StatusKey(FLEET))
        assert _status_clusters(h) == ["c2"]
        assert h.bundle("fleet")["status"]["observedGeneration"] == 2


async def test_a_target_reconcile_follows_a_relabelled_cluster_in_and_out(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, workers=0) as h:
        assert h.app is not None
        h.mgmt.apply(capi_cluster("c1", labels={"env": "prod"}), field_manager="test")
        h.mgmt.apply(capi_cluster("c2", labels={"env": "dev"}), field_manager="test")
        await h.wait_workload("c2")
        h.mgmt.apply(_fleet(PROD), field_manager="test")
        await _drain(h, lambda: is_ready(h.bundle("fleet")))
        assert _status_clusters(h) == ["c1"]
        assert not _has_addon(h, "c2")

        # c2 joins and c1 leaves; only their TargetKey reconciles run.
        await _relabel(h, "c2", "prod")
        await _relabel(h, "c1", "dev")
        await h.app.reconciler.reconcile(TargetKey(FLEET, _cluster("c2")))
        assert _has_addon(h, "c2")
        await h.app.reconciler.reconcile(TargetKey(FLEET, _cluster("c1")))
        assert not _has_addon(h, "c1")
        await h.app.reconciler.reconcile(StatusKey(FLEET))
        assert _status_clusters(h) == ["c2"]


async def test_a_deleted_bundle_leaves_nothing_of_itself_in_memory(tmp_path: Path) -> None:
    async with running(tmp_path, workers=0) as h:
        assert h.app is not None
        h.mgmt.apply(capi_cluster("c1", labels={"env": "prod"}), field_manager="test")
        h.mgmt.apply(capi_cluster("c2", labels={"env": "prod"}), field_manager="test")
        h.mgmt.apply(_fleet(PROD), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("b")]), field_manager="test")
        await _drain(h, lambda: is_ready(h.bundle("fleet")) and is_ready(h.bundle("stack")))
        memory = h.app.converger.memory
        stack = BundleKey(NAMESPACE, "stack")
        assert sorted(memory.bundles()) == [FLEET, stack]
        assert len(memory.targets(FLEET)) == 2

        h.mgmt.delete(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE)
        await _drain(h, lambda: h.mgmt.find(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE) is None)
        assert not _has_addon(h, "c1") and not _has_addon(h, "c2")
        assert memory.bundles() == [stack]
        assert memory.targets() == [TargetKey(stack, _cluster("c1"))]
        assert list(h.app.reconciler.table) == [TargetKey(stack, _cluster("c1"))]


async def test_the_store_holds_the_pieces_clusters_repeat_once(tmp_path: Path) -> None:
    """Two clusters and a bundle on each, converged: what the store holds of each object is
    what the API holds, and the pieces the clusters' objects repeat are held once."""
    async with running(tmp_path) as h:
        assert h.app is not None
        for name in ("c1", "c2"):
            h.mgmt.apply(capi_cluster(name, labels={"env": "prod"}), field_manager="test")
            ref = {"apiVersion": CAPI, "kind": "Cluster", "name": name}
            addons = bundle(f"{name}-addons", [configmap_addon("a")], clusterRef=ref)
            h.mgmt.apply(addons, field_manager="test")
        for name in ("c1", "c2"):
            await h.wait_bundle(f"{name}-addons", is_ready)
        await h.settle()
        assert h.check_store() >= 4  # two Clusters and two bundles at least
        store = h.app.store
        one, two = (store.get_id(_cluster(name)) for name in ("c1", "c2"))
        assert one is not None and two is not None
        assert one["metadata"]["name"] == "c1" and two["metadata"]["name"] == "c2"
        assert one["spec"]["topology"]["classRef"] is two["spec"]["topology"]["classRef"]
        assert one["metadata"]["labels"] is two["metadata"]["labels"]
        kept = [store.get(BUNDLE, NAMESPACE, f"{name}-addons") or {} for name in ("c1", "c2")]
        statuses = [b["status"] for b in kept]
        first, second = (status["clusters"][0]["addons"][0] for status in statuses)
        assert first["name"] == "a" and first["phase"] == second["phase"]
        assert first["kinds"] is second["kinds"]
