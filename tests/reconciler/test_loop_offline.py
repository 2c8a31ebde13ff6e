"""A workload cluster that stops answering, on the emulator: marked Down after three failures
with a Warning, probed with capped back-off while the others go on, brought fully up to date
when it answers again; a cluster being deleted is not waited on."""

import asyncio
import time
from pathlib import Path

from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    CAPI,
    NAMESPACE,
    Harness,
    Obj,
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    running,
)

SELECTOR = {"matchLabels": {"env": "edge"}}
FAST = Timing(waiting=0.05, gpu=0.1, status=0.02, reconnect=0.4)


def entry(obj: Obj, cluster: str) -> Obj:
    clusters = (obj.get("status") or {}).get("clusters") or []
    return next((c for c in clusters if c["clusterRef"]["name"] == cluster), {})


def fleet(addons: list[Obj]) -> Obj:
    return bundle("fleet", addons, clusterSelector=SELECTOR, clusterRef=None)


def events(h: Harness, reason: str) -> list[Obj]:
    return [e for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE) if e["reason"] == reason]


def generation_ready(generation: int, *clusters: str):
    def check(obj: Obj) -> bool:
        status = obj.get("status") or {}
        return status.get("observedGeneration") == generation and all(
            entry(obj, c).get("ready") for c in clusters
        )

    return check


async def test_a_cluster_offline_while_the_bundle_changes_is_marked_down_then_catches_up(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, timing=FAST) as h:
        for name in ("c1", "c2"):
            h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
        first = [configmap_addon("a", data="v1"), configmap_addon("gone", data="v1")]
        h.mgmt.apply(fleet(first), field_manager="test")
        await h.wait_bundle("fleet", generation_ready(1, "c1", "c2"))
        edge, other = h.workload("c1"), h.workload("c2")

        edge.faults.set_offline(True)
        try:
            # Three changes while c1 is away: an edit, a new add-on, a removed one.
            h.mgmt.apply(fleet([configmap_addon("a", data="v2"), first[1]]), field_manager="test")
            got = await h.wait_bundle(
                "fleet", lambda b: entry(b, "c1").get("connectionStatus") == "Down"
            )
            down = entry(got, "c1")
            assert down["connectionMessage"].startswith("workload cluster unreachable: ")
            assert down["downSince"]
            assert {a["reason"] for a in down["addons"]} == {"ClusterUnreachable"}
            assert "connectionStatus" not in entry(got, "c2")
            await eventually(lambda: bool(events(h, "ClusterDown")), within=5, what="ClusterDown")
            warning = events(h, "ClusterDown")[0]
            assert warning["type"] == "Warning"
            assert warning["message"].startswith(f"workload cluster {NAMESPACE}/c1 is Down: ")

            changed = time.monotonic()
            last = [configmap_addon("a", data="v3"), configmap_addon("new", data="v1")]
            h.mgmt.apply(fleet(last), field_manager="test")
            # The cluster that answers is not held up by the one that does not.
            await eventually(
                lambda: (
                    (other.find("v1", "ConfigMap", "new", "apps") or {})
                    .get("data", {})
                    .get("value")
                    == "v1"
                ),
                within=3,
                what="c2 converged while c1 is down",
            )
            assert time.monotonic() - changed < 3
            assert other.find("v1", "ConfigMap", "gone", "apps") is None

            # Probes come at most every `reconnect` seconds: a handful of requests, not a storm.
            await asyncio.sleep(1.5)
            assert entry(h.bundle("fleet"), "c1")["connectionStatus"] == "Down"
        finally:
            edge.faults.set_offline(False)
        back = time.monotonic()
        got = await h.wait_bundle("fleet", generation_ready(3, "c1", "c2"), within=10)
        caught_up = time.monotonic() - back
        assert caught_up < 3  # one capped probe period (0.4 s), then the converge
        assert "connectionStatus" not in entry(got, "c1")
        assert addon_phases(got) == {"a": "Healthy", "new": "Healthy"}
        assert edge.get("v1", "ConfigMap", "a", "apps")["data"]["value"] == "v3"
        assert edge.get("v1", "ConfigMap", "new", "apps")["data"]["value"] == "v1"
        assert edge.find("v1", "ConfigMap", "gone", "apps") is None
        await eventually(
            lambda: bool(events(h, "ClusterReconnected")), within=5, what="ClusterReconnected"
        )
        assert events(h, "ClusterReconnected")[0]["type"] == "Normal"


async def test_a_down_cluster_does_not_count_failures_from_each_probe_as_writes(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, timing=FAST) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"env": "edge"}), field_manager="test")
        workload = await h.wait_workload("c1")
        with workload.faults.offline():
            h.mgmt.apply(fleet([configmap_addon("a")]), field_manager="test")
            await h.wait_bundle("fleet", lambda b: entry(b, "c1").get("connectionStatus") == "Down")
            await asyncio.sleep(0.3)
            mark = h.mgmt.writes.mark()
            await asyncio.sleep(2.0)  # several probes, all failing
            status_writes = h.mgmt.writes.count(since=mark, kind="AddonBundle")
            assert status_writes == 0
            assert len(events(h, "ClusterDown")) == 1


async def test_a_down_cluster_being_deleted_is_skipped_not_waited_on(tmp_path: Path) -> None:
    async with running(tmp_path, timing=FAST) as h:
        cluster = capi_cluster("c1", labels={"env": "edge"})
        cluster["metadata"]["finalizers"] = ["test.aifleet.io/hold"]
        h.mgmt.apply(cluster, field_manager="test")
        workload = await h.wait_workload("c1")
        with workload.faults.offline():
            h.mgmt.apply(fleet([configmap_addon("a")]), field_manager="test")
            await h.wait_bundle("fleet", lambda b: entry(b, "c1").get("connectionStatus") == "Down")
            h.mgmt.delete(CAPI, "Cluster", "c1", NAMESPACE)
            got = await h.wait_bundle(
                "fleet",
                lambda b: (
                    {a.get("message") for a in entry(b, "c1").get("addons", [])}
                    == {"cluster is being deleted"}
                ),
                within=3,
            )
            assert "connectionStatus" not in entry(got, "c1")
            # Deleting the bundle does not wait for the unreachable, departing cluster.
            started = time.monotonic()
            await h.delete_bundle("fleet", within=3)
            assert time.monotonic() - started < 3
