"""Sharding over replicas: Leases split the shards, a dead replica's shards are taken over,
and two reconciler processes over one fleet never write each other's clusters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.shards import SHARD_LABEL, Shards, ShardSettings, shard_of
from tests.reconciler.harness import (
    NAMESPACE,
    Harness,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

LEASES = "crossplane-system"
CLUSTERS = [f"c{i}" for i in range(20)]
LEASE_SECONDS = 2.0
RETRY_SECONDS = LEASE_SECONDS * 2 / 15
A, B = "aifleet/reconciler (process-a)", "aifleet/reconciler (process-b)"


def test_a_cluster_is_in_the_shard_its_label_names_else_in_the_hash_of_its_uid() -> None:
    labelled = {"metadata": {"uid": "u-1", "labels": {SHARD_LABEL: "3"}}}
    assert shard_of(labelled, 4) == 3
    unlabelled = [{"metadata": {"uid": f"uid-{i}"}} for i in range(400)]
    counts = [0] * 4
    for obj in unlabelled:
        counts[shard_of(obj, 4)] += 1
    assert min(counts) > 60  # spread over every shard
    assert shard_of(unlabelled[0], 4) == shard_of(unlabelled[0], 4)
    out_of_range = {"metadata": {"uid": "uid-0", "labels": {SHARD_LABEL: "9"}}}
    assert shard_of(out_of_range, 4) == shard_of(unlabelled[0], 4)  # ignored: hashed


def _noop(gained: frozenset[int], lost: frozenset[int]) -> None:
    return None


async def test_replicas_split_the_shards_and_take_over_those_of_a_replica_that_died(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        try:

            def replica(identity: str) -> Shards:
                settings = ShardSettings(
                    LEASES, identity, 4, lease_duration=1.0, renew_deadline=0.7, retry_period=0.1
                )
                return Shards(client, settings)

            a, b = replica("a"), replica("b")
            for _ in range(30):
                await a.step(_noop)
                await b.step(_noop)
                if len(a.held) == len(b.held) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(a.held) == len(b.held) == 2
            assert a.held | b.held == {0, 1, 2, 3}

            # b dies: it renews nothing any more; a takes its shards after one lease period.
            for _ in range(40):
                await a.step(_noop)
                if a.held == {0, 1, 2, 3}:
                    break
                await asyncio.sleep(0.1)
            assert a.held == {0, 1, 2, 3}

            # c joins: a gives back its share above two, c takes it.
            c = replica("c")
            for _ in range(40):
                await a.step(_noop)
                await c.step(_noop)
                if len(a.held) == len(c.held) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(a.held) == len(c.held) == 2
            assert a.held | c.held == {0, 1, 2, 3}
        finally:
            await client.close()


def _replica_process(h: Harness, tmp_path: Path) -> subprocess.Popen[bytes]:
    kubeconfig = tmp_path / "mgmt.yaml"
    kubeconfig.write_text(yaml.safe_dump(h.mgmt.kubeconfig()))
    command = [sys.executable, "-m", "function.main", "reconcile", "--kubeconfig"]
    command += [str(kubeconfig), "--identity", "process-b", "--lease-namespace", LEASES]
    command += ["--shard-count", "4", "--lease-duration", f"{LEASE_SECONDS:g}"]
    command += ["--probe-address", ""]
    command += ["--chart-cache", str(tmp_path / "charts-b"), "--workers", "4"]
    log = (tmp_path / "replica-b.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def _micro_time(value: str) -> float:
    """A Lease's MicroTime as seconds since the epoch."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _holders(h: Harness) -> set[str]:
    """Who holds the shard Leases."""
    leases = h.mgmt.list("coordination.k8s.io/v1", "Lease", namespace=LEASES)
    return {
        str(lease["spec"].get("holderIdentity"))
        for lease in leases
        if "-shard-" in lease["metadata"]["name"] and lease["spec"].get("holderIdentity")
    }


def _reporters(h: Harness, name: str) -> set[str]:
    events = h.mgmt.list("v1", "Event", namespace=NAMESPACE)
    return {
        e.get("reportingInstance", "")
        for e in events
        if e["involvedObject"]["name"] == f"stack-{name}"
    }


async def test_two_reconciler_processes_split_the_fleet_and_one_finishes_when_the_other_dies(
    tmp_path: Path,
) -> None:
    shards = ShardSettings(
        LEASES,
        "process-a",
        4,
        lease_duration=LEASE_SECONDS,
        renew_deadline=LEASE_SECONDS * 2 / 3,
        retry_period=RETRY_SECONDS,
    )
    async with running(tmp_path, shards=shards) as h:
        for name in CLUSTERS:
            h.mgmt.apply(capi_cluster(name), field_manager="test")
        process = _replica_process(h, tmp_path)
        try:

            def apply_bundles(data: str) -> None:
                for name in CLUSTERS:
                    ref = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster"}
                    addons = [configmap_addon("a", data=data), configmap_addon("b", "a")]
                    body = bundle(f"stack-{name}", addons, clusterRef={**ref, "name": name})
                    h.mgmt.apply(body, field_manager="test")

            def all_ready(generation: int) -> bool:
                for name in CLUSTERS:
                    got = h.mgmt.find(
                        "addons.aifleet.io/v1alpha1", "AddonBundle", f"stack-{name}", NAMESPACE
                    )
                    if got is None or not is_ready(got):
                        return False
                    if got["status"].get("observedGeneration") != generation:
                        return False
                return True

            await eventually(
                lambda: _holders(h) == {"process-a", "process-b"},
                within=30,
                what="both replicas holding shards",
            )
            apply_bundles("v1")
            # Events follow the status write that reports a bundle ready: wait for both.
            await eventually(
                lambda: all_ready(1) and all(_reporters(h, name) for name in CLUSTERS),
                within=90,
                what="every bundle ready, with its events",
            )
            await eventually(  # a bundle's Events follow the status write that made it Ready
                lambda: all(_reporters(h, name) for name in CLUSTERS),
                within=10,
                what="the events of every bundle",
            )
            # Each cluster was written by one process only (the write log by field manager
            # and User-Agent), each object once, every event of its bundle from that process;
            # both processes took part.
            writers: dict[str, set[str]] = {}
            for name in CLUSTERS:
                writes = h.workload(name).writes.filter(field_manager="aifleet")
                agents = {w.user_agent for w in writes}
                assert len(agents) == 1, (name, agents)
                objects = [(w.kind, w.namespace, w.name) for w in writes]
                assert len(objects) == len(set(objects)), name
                assert len(_reporters(h, name)) == 1, name
                writers.setdefault(agents.pop(), set()).add(name)
            assert set(writers) == {A, B}, writers

            # The other process dies mid-rollout: this one takes its shards within a lease
            # period of their last renewal and finishes every cluster, writing the changed
            # object once per cluster and nothing twice.
            marks = {name: h.workload(name).writes.mark() for name in CLUSTERS}
            for name in CLUSTERS:  # a slow apply: process-b dies with its writes in flight
                h.workload(name).faults.slow(1.0, verb="apply", kind="ConfigMap", name="a")
            apply_bundles("v2")
            await asyncio.sleep(0.3)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            last_renewed = {
                lease["metadata"]["name"]: _micro_time(lease["spec"]["renewTime"])
                for lease in h.mgmt.list("coordination.k8s.io/v1", "Lease", namespace=LEASES)
                if "-shard-" in lease["metadata"]["name"]
                and lease["spec"].get("holderIdentity") == "process-b"
            }
            assert last_renewed, "process-b held shards when it was killed"
            await eventually(lambda: all_ready(2), within=60, what="every bundle at v2")
            for lease in h.mgmt.list("coordination.k8s.io/v1", "Lease", namespace=LEASES):
                name = lease["metadata"]["name"]
                if name in last_renewed:
                    assert lease["spec"]["holderIdentity"] == "process-a", name
                    gap = _micro_time(lease["spec"]["acquireTime"]) - last_renewed[name]
                    print(f"{name}: taken {gap:.2f} s after its last renewal")
                    assert gap <= LEASE_SECONDS * 1.5 + 2 * RETRY_SECONDS, (name, gap)
            taken_over = set()
            for name in CLUSTERS:
                writes = h.workload(name).writes.filter(since=marks[name], field_manager="aifleet")
                changed = [f"{w.kind}/{w.namespace}/{w.name}" for w in writes]
                assert changed == ["ConfigMap/apps/a"], (name, changed)
                if name in writers[A]:
                    assert writes[0].user_agent == A, name
                elif writes[0].user_agent == A:
                    taken_over.add(name)
            assert taken_over, "the survivor finished clusters of the process that died"
            assert h.app is not None and h.app.shards is not None
            assert h.app.shards.held == {0, 1, 2, 3}

            # Both replicas again, from cold: the settled fleet costs no writes.
            await h.settle()
            write_marks = {name: h.workload(name).writes.mark() for name in CLUSTERS}
            mgmt_mark = h.mgmt.writes.mark()
            process = _replica_process(h, tmp_path)
            await h.restart()
            await asyncio.sleep(6.0)  # the new process joins and the shards rebalance
            await h.settle()
            for name in CLUSTERS:
                assert h.workload(name).writes.filter(since=write_marks[name]) == []
            kinds = {w.kind for w in h.mgmt.writes.filter(since=mgmt_mark)}
            assert kinds <= {"Lease"}, kinds
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
