"""A reconciler restarted while a fleet is still converging, on the emulator: the new process
writes nothing already applied and identical, keeps what the old one reported (an add-on
waiting on its health, one on its dependency, a cluster whose control plane is not up, a
cluster that is Down), and once the gate opens and the clusters come up, applies each
remaining object exactly once and reports Ready."""

import asyncio
from collections import Counter
from pathlib import Path

from function.kube.client import FIELD_MANAGER
from function.reconciler.store import ObjectId
from function.reconciler.timing import Timing
from tests.reconciler.harness import (
    CAPI,
    NAMESPACE,
    Harness,
    Obj,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

SELECTOR = {"matchLabels": {"env": "edge"}}
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: op}\n"
    "spec:\n  replicas: 1\n  selector: {matchLabels: {app: op}}\n"
    "  template:\n    metadata: {labels: {app: op}}\n"
    "    spec: {containers: [{name: op, image: op:1}]}\n"
)
ADDONS = [
    {"name": "op", "namespace": "apps", "manifests": DEPLOYMENT},
    configmap_addon("cfg", "op"),
]
OBJECTS = ["Namespace/apps", "Deployment/apps/op", "ConfigMap/apps/cfg"]
NOT_UP = "waiting for the control plane (phase Provisioning)"


def fleet(addons: list[Obj]) -> Obj:
    return bundle("fleet", addons, clusterSelector=SELECTOR, clusterRef=None)


def events(h: Harness, reason: str) -> list[Obj]:
    return [e for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE) if e["reason"] == reason]


def entry(obj: Obj, cluster: str) -> Obj:
    clusters = (obj.get("status") or {}).get("clusters") or []
    return next((c for c in clusters if c["clusterRef"]["name"] == cluster), {})


def addons(obj: Obj, cluster: str) -> dict[str, tuple[str, str | None, str | None]]:
    """{add-on: (phase, reason, message)} on one cluster of the bundle's status."""
    return {
        a["name"]: (a["phase"], a.get("reason"), a.get("message"))
        for a in entry(obj, cluster).get("addons") or []
    }


def held(obj: Obj) -> bool:
    """c1's first add-on waits on its health, the second on it, c2 on its control plane."""
    c1, c2 = addons(obj, "c1"), addons(obj, "c2")
    return (
        c1.get("op", ("",))[0] == "Waiting"
        and c1.get("cfg", ("",))[0] == "Pending"
        and bool(c2)
        and all(message == NOT_UP for _, _, message in c2.values())
    )


async def _quiet_status(h: Harness, quiet: float = 1.0, within: float = 10.0) -> None:
    """Wait until the management cluster saw no write for ``quiet`` seconds (a Waiting add-on
    keeps the reconciler's queue busy, so `Harness.settle` cannot be used)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    mark, since = h.mgmt.writes.mark(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        if h.mgmt.writes.mark() != mark:
            mark, since = h.mgmt.writes.mark(), loop.time()
        elif loop.time() - since >= quiet:
            return
    raise TimeoutError(f"the management cluster kept being written: {h.mgmt.writes.names()}")


async def test_a_restart_while_converging_writes_nothing_and_loses_nothing(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"env": "edge"}), field_manager="test")
        up = await h.wait_workload("c1")
        up.simulation.disable("deployment-available")
        # c2's infrastructure is provisioned, its control plane never comes up (yet).
        h.mgmt.simulation.disable("capi-control-plane")
        h.mgmt.apply(capi_cluster("c2", labels={"env": "edge"}), field_manager="test")
        h.mgmt.apply(fleet(ADDONS), field_manager="test")
        await h.wait_bundle("fleet", held)
        await _quiet_status(h)
        before = h.bundle("fleet")
        assert held(before)
        assert addons(before, "c1")["cfg"][2] == "waiting for op"
        assert condition(before, "Ready")["reason"] == "AddonsPending"
        assert h.workload_or_none("c2") is None
        assert up.writes.names(field_manager=FIELD_MANAGER) == OBJECTS[:2]

        up_mark, mgmt_mark = up.writes.mark(), h.mgmt.writes.mark()
        reads = up.requests.mark()
        await h.restart()
        # Long enough for the new process to list everything, converge both targets and
        # check the waiting add-on's health many times over.
        await asyncio.sleep(1.5)
        await _quiet_status(h)
        # The new process did look: it read the Deployment whose health gates the rest.
        assert up.requests.count(since=reads, kind="Deployment") > 0
        assert up.writes.filter(since=up_mark) == []
        assert h.mgmt.writes.filter(since=mgmt_mark) == []
        after = h.bundle("fleet")
        assert after["status"] == before["status"]
        assert addons(after, "c1") == addons(before, "c1")
        assert addons(after, "c2") == addons(before, "c2")
        assert h.workload_or_none("c2") is None

        # The gate opens and the cluster comes up: what remains is applied exactly once.
        up.simulation.enable("deployment-available")
        h.mgmt.simulation.enable("capi-control-plane")
        got = await h.wait_bundle("fleet", is_ready)
        assert [entry(got, c)["ready"] for c in ("c1", "c2")] == [True, True]
        assert condition(got, "Synced")["status"] == "True"
        late = await h.wait_workload("c2")
        await h.settle()
        assert up.writes.names(since=up_mark, field_manager=FIELD_MANAGER) == OBJECTS[2:]
        written = Counter(late.writes.names(field_manager=FIELD_MANAGER))
        assert written == Counter(OBJECTS), written
        await eventually(lambda: is_ready(h.bundle("fleet")), within=1, what="Ready after settling")

        # Settled: a restart costs no object write and no status write.
        settled = h.bundle("fleet")["status"]
        marks = {c: h.workload(c).writes.mark() for c in ("c1", "c2")}
        mgmt_mark = h.mgmt.writes.mark()
        await h.restart()
        await asyncio.sleep(0.5)
        await h.settle()
        for c, mark in marks.items():
            assert h.workload(c).writes.filter(since=mark) == [], c
        assert h.mgmt.writes.filter(since=mgmt_mark) == []
        assert h.bundle("fleet")["status"] == settled


async def test_a_restart_while_a_cluster_is_down_keeps_it_down_since_the_same_time(
    tmp_path: Path,
) -> None:
    timing = Timing(waiting=0.05, gpu=0.1, status=0.02, reconnect=0.4)
    async with running(tmp_path, timing=timing) as h:
        for name in ("c1", "c2"):
            h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
        up, away = await h.wait_workload("c1"), await h.wait_workload("c2")
        with away.faults.offline():
            h.mgmt.apply(fleet([configmap_addon("a")]), field_manager="test")
            await h.wait_bundle("fleet", lambda b: entry(b, "c2").get("connectionStatus") == "Down")
            await _quiet_status(h)
            before = h.bundle("fleet")
            assert entry(before, "c1")["ready"]
            assert {a["reason"] for a in entry(before, "c2")["addons"]} == {"ClusterUnreachable"}
            assert len(events(h, "ClusterDown")) == 1
            up_mark, mgmt_mark = up.writes.mark(), h.mgmt.writes.mark()
            await h.restart()
            # Several probe periods: the new process tries c2, fails, and knows it is Down.
            await asyncio.sleep(2.0)
            await _quiet_status(h)
            assert h.app is not None
            c2 = ObjectId.of(h.mgmt.get(CAPI, "Cluster", "c2", NAMESPACE))
            assert h.app.converger.connections.is_down(c2)
            assert h.mgmt.writes.filter(since=mgmt_mark) == []
            assert up.writes.filter(since=up_mark) == []
            assert h.bundle("fleet")["status"] == before["status"]
            assert len(events(h, "ClusterDown")) == 1
            assert events(h, "ClusterReconnected") == []
        got = await h.wait_bundle("fleet", lambda b: entry(b, "c2").get("ready") is True)
        assert "connectionStatus" not in entry(got, "c2")
        assert away.writes.names(field_manager=FIELD_MANAGER) == [
            "Namespace/apps",
            "ConfigMap/apps/a",
        ]
        await eventually(
            lambda: len(events(h, "ClusterReconnected")) == 1, within=5, what="ClusterReconnected"
        )
