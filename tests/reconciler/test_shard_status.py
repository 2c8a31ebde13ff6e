"""A bundle whose selector spans several shards: each replica converges the clusters of its own
shards and applies their status entries as its shard's field manager, the API server merges them
(a list map keyed by cluster), so neither replica writes or loses the other's entries, and the
holder of the bundle's own shard writes the aggregates over every cluster."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import AioAdapter, user_agent
from function.kube.client import EventType
from function.model.bundle import API_VERSION, KIND
from function.reconciler.app import ReconcilerApp
from function.reconciler.shards import SHARD_LABEL, ShardSettings, shard_of
from function.reconciler.shardstatus import shard_manager
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    Harness,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    running,
)

LEASES = "crossplane-system"
CLUSTERS = [f"c{i}" for i in range(20)]
A, B = "aifleet/reconciler (replica-a)", "aifleet/reconciler (replica-b)"
STATUS_IN_FLIGHT = 0.3
"""Seconds every write to a bundle takes on the API server, so that the replicas' writes
overlap (a read-modify-write of the whole status would lose the other's entries, or conflict)."""


def _shard(identity: str, shard: int) -> ShardSettings:
    return ShardSettings(
        LEASES,
        identity,
        2,
        shards=(shard,),
        lease_duration=2.0,
        renew_deadline=1.4,
        retry_period=0.2,
    )


@contextlib.asynccontextmanager
async def _replica(
    h: Harness, tmp_path: Path, identity: str, shard: int
) -> AsyncIterator[ReconcilerApp]:
    """A reconciler holding one shard, on the client the command runs (its User-Agent names
    it, so the API server's request log tells the replicas apart)."""
    config = configuration_from_kubeconfig(h.mgmt.kubeconfig())
    client = AioAdapter(config, user_agent=user_agent(identity))
    settings = dataclasses.replace(
        h.settings, shards=_shard(identity, shard), chart_cache=tmp_path / f"charts-{identity}"
    )
    app = ReconcilerApp(settings, client)
    task = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(app.ready.wait(), 10)
        yield app
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def _settle(*apps: ReconcilerApp, quiet: float = 1.0, within: float = 20.0) -> None:
    """Wait until every replica's queue stays empty and idle for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    deadline, idle_since = loop.time() + within, None
    while loop.time() < deadline:
        if any(len(app.queue) or app.queue.processing for app in apps):
            idle_since = None
        elif idle_since is None:
            idle_since = loop.time()
        elif loop.time() - idle_since >= quiet:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the replicas did not settle")


async def _record_versions(h: Harness, seen: list[set[str]]) -> None:
    """The keys of the bundle's status entries, at every version the API server stored."""
    client = AioAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
    try:
        listed = await client.list(API_VERSION, KIND, namespace=NAMESPACE)
        version = listed.resource_version
        while True:
            async for event in client.watch(
                API_VERSION, KIND, namespace=NAMESPACE, resource_version=version
            ):
                version = str(event.object["metadata"]["resourceVersion"])
                if event.type is EventType.MODIFIED and event.object["metadata"]["name"] == "fleet":
                    entries = (event.object.get("status") or {}).get("clusters") or []
                    seen.append({str(e["key"]) for e in entries})
    finally:
        await client.close()


def _owned(obj: dict[str, object]) -> dict[str, str]:
    """Which status field manager owns each entry (by key) and the conditions."""
    owners: dict[str, str] = {}
    for entry in obj["metadata"]["managedFields"]:  # type: ignore[index]
        if entry.get("subresource") != "status":
            continue
        status = entry["fieldsV1"].get("f:status", {})
        for element in status.get("f:clusters", {}):
            if element.startswith("k:"):
                owners.setdefault(json.loads(element[2:])["key"], "")
                owners[json.loads(element[2:])["key"]] += entry["manager"]
        if "f:conditions" in status:
            owners["conditions"] = owners.get("conditions", "") + entry["manager"]
    return owners


def _entries(h: Harness) -> dict[str, dict[str, str]]:
    """Each cluster's add-on phases in the bundle's status."""
    got = h.mgmt.find(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE) or {}
    return {
        c["clusterRef"]["name"]: {a["name"]: a["phase"] for a in c.get("addons", [])}
        for c in (got.get("status") or {}).get("clusters", [])
    }


async def test_two_replicas_apply_only_their_own_entries_of_one_bundle_and_none_is_lost(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        await h.stop()  # the two replicas below take its place
        async with (
            _replica(h, tmp_path, "replica-a", 0) as a,
            _replica(h, tmp_path, "replica-b", 1) as b,
        ):
            for i, name in enumerate(CLUSTERS):
                labels = {"env": "gpu", SHARD_LABEL: str(i % 2)}
                h.mgmt.apply(capi_cluster(name, labels=labels), field_manager="test")
            for name in CLUSTERS:
                await h.wait_workload(name)
            assert a.shards is not None and b.shards is not None
            await eventually(
                lambda: a.shards.held == {0} and b.shards.held == {1},  # type: ignore[union-attr]
                within=10,
                what="each replica holding its shard",
            )
            versions: list[set[str]] = []
            recorder = asyncio.create_task(_record_versions(h, versions))
            await asyncio.sleep(0.2)
            mark, writes_mark = h.mgmt.requests.mark(), h.mgmt.writes.mark()
            slow = h.mgmt.faults.slow(STATUS_IN_FLIGHT, verb="patch", kind="AddonBundle")
            addons = [configmap_addon("a"), configmap_addon("b", "a")]
            selector = {"matchLabels": {"env": "gpu"}}
            body = bundle("fleet", addons, clusterSelector=selector, clusterRef=None)
            h.mgmt.apply(body, field_manager="test")

            def ready() -> tuple[str, str, str] | None:
                got = h.mgmt.find(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE) or {}
                found = list((got.get("status") or {}).get("conditions", []))
                return next(
                    (
                        (c["status"], c["reason"], c["message"])
                        for c in found
                        if c["type"] == "Ready"
                    ),
                    None,
                )

            healthy = {"a": "Healthy", "b": "Healthy"}
            await eventually(
                lambda: (
                    _entries(h) == dict.fromkeys(CLUSTERS, healthy)
                    and ready() == ("True", "AddonsReady", "40/40 add-ons ready on 20 cluster(s)")
                ),
                within=60,
                what="every cluster's entry Healthy, and the bundle Ready over all of them",
            )
            h.mgmt.faults.remove(slow)
            await _settle(a, b)
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            got = h.mgmt.get(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE)
            assert got["status"]["observedGeneration"] == 1
            assert {c["observedGeneration"] for c in got["status"]["clusters"]} == {1}

            # Each cluster was written by the replica of its shard only.
            for i, name in enumerate(CLUSTERS):
                writes = h.workload(name).writes.filter(field_manager="aifleet")
                assert {w.user_agent for w in writes} == {(A, B)[i % 2]}, name

            # Each shard's entries are owned by its field manager alone, which only the
            # replica holding that shard wrote as; the aggregates by the bundle's own shard's.
            keys = {c["clusterRef"]["name"]: c["key"] for c in got["status"]["clusters"]}
            home = shard_of(got, 2)
            owners = _owned(got)
            assert owners == {
                **{keys[name]: shard_manager(i % 2) for i, name in enumerate(CLUSTERS)},
                "conditions": shard_manager(home),
            }
            status_writes = [
                w
                for w in h.mgmt.writes.filter(since=writes_mark, kind="AddonBundle")
                if w.subresource == "status"
            ]
            by_manager = {
                manager: {w.user_agent for w in status_writes if w.field_manager == manager}
                for manager in {w.field_manager for w in status_writes}
            }
            assert by_manager == {shard_manager(0): {A}, shard_manager(1): {B}}, by_manager
            print(f"status writes: {len(status_writes)}")

            # No write refused, and no entry ever lost: every version the API server stored
            # holds every entry the one before it had.
            requests = h.mgmt.requests.filter(since=mark, kind="AddonBundle", name="fleet")
            assert [r for r in requests if r.code == 409] == []
            assert versions and versions[-1] == set(keys.values())
            for before, after in itertools.pairwise(versions):
                assert before <= after, sorted(before - after)

        # Both replicas again, from cold: the settled bundle costs no writes.
        marks = {name: h.workload(name).writes.mark() for name in CLUSTERS}
        mgmt_mark = h.mgmt.writes.mark()
        async with (
            _replica(h, tmp_path, "replica-a", 0) as a,
            _replica(h, tmp_path, "replica-b", 1) as b,
        ):
            await eventually(
                lambda: a.shards.held == {0} and b.shards.held == {1},  # type: ignore[union-attr]
                within=10,
                what="each replica holding its shard again",
            )
            await _settle(a, b)
            for name in CLUSTERS:
                assert h.workload(name).writes.filter(since=marks[name]) == [], name
            kinds = {w.kind for w in h.mgmt.writes.filter(since=mgmt_mark)}
            assert kinds <= {"Lease"}, kinds

            # Deleted, each replica withdraws its clusters; the last lets the bundle go.
            await h.delete_bundle("fleet", within=30)
            for name in CLUSTERS:
                assert h.workload(name).find("v1", "ConfigMap", "a", "apps") is None, name
