"""A bundle's status changing writers: entries a single writer merge-patched (owned by its
Update) and entries shards applied (owned by their appliers) are taken out when their cluster
leaves, whichever wrote them before the bundle was split, or stopped being split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from function.reconciler.shards import SHARD_LABEL, ShardSettings
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

CLUSTERS = [f"c{i}" for i in range(4)]
SHARDED = ShardSettings(
    "crossplane-system",
    "replica-a",
    2,
    shards=(0, 1),
    lease_duration=2.0,
    renew_deadline=1.4,
    retry_period=0.2,
)


def _entries(h: Harness) -> dict[str, str]:
    """Each cluster's add-on phase in the bundle's status."""
    got = h.mgmt.find(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE) or {}
    return {
        c["clusterRef"]["name"]: ",".join(a["phase"] for a in c.get("addons", []))
        for c in (got.get("status") or {}).get("clusters", [])
    }


def _owners(h: Harness) -> set[tuple[str, str]]:
    """(manager, operation) of every managedFields entry over the status's clusters."""
    got = h.mgmt.get(BUNDLE_API, "AddonBundle", "fleet", NAMESPACE)
    return {
        (e["manager"], e["operation"])
        for e in got["metadata"]["managedFields"]
        if "f:clusters" in e["fieldsV1"].get("f:status", {})
    }


async def _converged(h: Harness, names: list[str], what: str) -> None:
    await eventually(
        lambda: _entries(h) == dict.fromkeys(names, "Healthy"),
        within=15,
        what=what,
    )


async def _leave(h: Harness, name: str, shard: int) -> None:
    """The cluster stops matching the selector: it is withdrawn from, and its entry goes."""
    labels = {"env": "cpu", SHARD_LABEL: str(shard)}
    h.mgmt.apply(capi_cluster(name, labels=labels), field_manager="test")
    workload = h.workload(name)
    await eventually(
        lambda: workload.find("v1", "ConfigMap", "a", "apps") is None,
        within=20,
        what=f"add-on withdrawn from {name}",
    )


async def _fleet(h: Harness, **spec: object) -> None:
    """Four clusters over two shards, and a bundle selecting them all."""
    for i, name in enumerate(CLUSTERS):
        labels = {"env": "gpu", SHARD_LABEL: str(i % 2)}
        h.mgmt.apply(capi_cluster(name, labels=labels), field_manager="test")
    for name in CLUSTERS:
        await h.wait_workload(name)
    body = bundle(
        "fleet",
        [configmap_addon("a")],
        clusterSelector={"matchLabels": {"env": "gpu"}},
        clusterRef=None,
        **spec,
    )
    h.mgmt.apply(body, field_manager="test")
    await _converged(h, CLUSTERS, "every entry Healthy")


async def test_entries_a_single_writer_left_go_when_their_cluster_leaves_a_split_bundle(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        await _fleet(h)
        assert _owners(h) == {("aifleet", "Update")}

        # The fleet is sharded: the bundle is split, its entries applied per shard.
        h.settings = dataclasses.replace(h.settings, shards=SHARDED)
        await h.restart()
        await _leave(h, "c1", 1)
        await _converged(h, ["c0", "c2", "c3"], "c1's entry gone from the split bundle")
        await _leave(h, "c2", 0)
        await _converged(h, ["c0", "c3"], "c2's entry gone from the split bundle")

        # Deleted, the entries the single writer left do not hold its finalizer.
        await h.delete_bundle("fleet", within=15)
        for name in ("c0", "c3"):
            assert h.workload(name).find("v1", "ConfigMap", "a", "apps") is None, name


async def test_a_bundle_split_once_its_rollout_is_dropped_loses_its_rollout_and_left_entries(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, shards=SHARDED) as h:
        await _fleet(h, maxUpdate=4)  # one writer: a rollout is counted in one process
        assert "rollout" in h.bundle("fleet")["status"]
        assert _owners(h) == {("aifleet", "Update")}

        spec = h.bundle("fleet")["spec"]
        del spec["maxUpdate"]
        body = bundle("fleet", spec["addons"], **{k: v for k, v in spec.items() if k != "addons"})
        h.mgmt.apply(body, field_manager="test")
        await eventually(
            lambda: "rollout" not in (h.bundle("fleet").get("status") or {}),
            within=15,
            what="the single writer's rollout gone from the split bundle",
        )
        await _leave(h, "c0", 0)
        await _converged(h, ["c1", "c2", "c3"], "c0's entry gone from the split bundle")
        ready = next(c for c in h.bundle("fleet")["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["message"]) == (
            "True",
            "3/3 add-ons ready on 3 cluster(s)",
        )


async def test_entries_shards_applied_go_when_their_cluster_leaves_a_bundle_of_one_writer(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, shards=SHARDED) as h:
        await _fleet(h)
        assert {manager for manager, _ in _owners(h)} == {"aifleet-shard-0", "aifleet-shard-1"}

        # Back to one writer: the entries the shards applied go as well.
        h.settings = dataclasses.replace(h.settings, shards=None)
        await h.restart()
        await _leave(h, "c3", 1)
        await _converged(h, ["c0", "c1", "c2"], "c3's entry gone once the bundle has one writer")
