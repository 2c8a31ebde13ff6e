"""A bundle whose selector spans several shards: each replica converges the clusters of its own
shards and writes their status entries, guarded by resourceVersion and retried on conflict, so
neither replica's entries are lost and the aggregates count every cluster."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import AioAdapter, user_agent
from function.reconciler.app import ReconcilerApp
from function.reconciler.shards import SHARD_LABEL, ShardSettings
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    Harness,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    running,
)

LEASES = "crossplane-system"
CLUSTERS = [f"c{i}" for i in range(10)]
A, B = "aifleet/reconciler (replica-a)", "aifleet/reconciler (replica-b)"
STATUS_IN_FLIGHT = 1.0
"""Seconds every write to a bundle takes on the API server: a write one replica sends while
the other's is in flight was composed from the version the other's replaces, so it conflicts."""


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


def _entries(h: Harness) -> dict[str, dict[str, str]]:
    """Each cluster's add-on phases in the bundle's status."""
    got = h.mgmt.find(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE) or {}
    return {
        c["clusterRef"]["name"]: {a["name"]: a["phase"] for a in c.get("addons", [])}
        for c in (got.get("status") or {}).get("clusters", [])
    }


async def test_two_replicas_converge_one_bundle_and_both_halves_of_its_status_survive(
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
            mark = h.mgmt.requests.mark()
            slow = h.mgmt.faults.slow(STATUS_IN_FLIGHT, verb="patch", kind="AddonBundle")
            addons = [configmap_addon("a"), configmap_addon("b", "a")]
            selector = {"matchLabels": {"env": "gpu"}}
            body = bundle("fleet", addons, clusterSelector=selector, clusterRef=None)
            h.mgmt.apply(body, field_manager="test")

            healthy = {"a": "Healthy", "b": "Healthy"}
            await eventually(
                lambda: _entries(h) == dict.fromkeys(CLUSTERS, healthy),
                within=60,
                what="every cluster's entry Healthy",
                last=_entries(h),
            )
            h.mgmt.faults.remove(slow)
            got = h.mgmt.get(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE)
            ready = condition(got, "Ready")
            assert (ready["status"], ready["reason"]) == ("True", "AddonsReady")
            assert ready["message"] == "20/20 add-ons ready on 10 cluster(s)"
            assert got["status"]["observedGeneration"] == 1
            assert {c["observedGeneration"] for c in got["status"]["clusters"]} == {1}

            # Each cluster was written by the replica of its shard only.
            for i, name in enumerate(CLUSTERS):
                writes = h.workload(name).writes.filter(field_manager="aifleet")
                assert {w.user_agent for w in writes} == {(A, B)[i % 2]}, name

            # Status writes conflicted, and the refused replica read the bundle again and
            # wrote its entries over the other's: a 409, a GET, then a write that took.
            requests = h.mgmt.requests.filter(since=mark, kind="AddonBundle", name="fleet")
            status = [r for r in requests if r.subresource == "status"]
            refused = [r for r in status if r.code == 409]
            assert refused, [(r.user_agent, r.code) for r in status]
            print(f"status writes: {len(status)}, refused with 409: {len(refused)}")
            retried = False
            for conflict in refused:
                after = [r for r in requests if r.seq > conflict.seq]
                read = next(
                    (r for r in after if r.verb == "get" and r.user_agent == conflict.user_agent),
                    None,
                )
                took = read is not None and any(
                    r.seq > read.seq
                    and r.subresource == "status"
                    and r.code == 200
                    and r.user_agent == conflict.user_agent
                    for r in after
                )
                retried = retried or took
            assert retried, [(r.verb, r.subresource, r.user_agent, r.code) for r in requests]
            assert {r.user_agent for r in status if r.code == 200} == {A, B}

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
