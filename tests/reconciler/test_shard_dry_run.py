"""A DryRun bundle split over shards: each shard's entries list at most its share of the plans
a status may hold, so the shards' applies together fit as the single writer's status does, and
the cut is counted on each add-on and said on the bundle's Ready condition."""

from __future__ import annotations

import json
from pathlib import Path

from function.model.plan import MAX_STATUS_PLAN_BYTES
from function.reconciler.shards import SHARD_LABEL, ShardSettings
from tests.reconciler.harness import (
    Obj,
    bundle,
    capi_cluster,
    condition,
    is_ready,
    running,
)

SHARDS = 2
CLUSTERS = [f"c{i:02}" for i in range(12)]
OBJECTS = 15
KEYS = 25


def _addon(letter: str) -> Obj:
    """Fifteen ConfigMaps of 25 keys each: a change of every value is a 20-line diff apiece,
    about 56 KB of plan per cluster (under an add-on's own limit, 64 KiB)."""
    manifests = (
        "{% for o in range(" + str(OBJECTS) + ") %}---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'big-{{ o }}'}\ndata:\n"
        "{% for i in range(" + str(KEYS) + ") %}"
        "  key-{{ i }}: '{{ '" + letter + "' * 100 }}'\n{% endfor %}{% endfor %}"
    )
    return {"name": "big", "namespace": "apps", "manifests": manifests}


def _size(plan: list[Obj]) -> int:
    """JSON bytes of a listed plan, as the status budget counts them."""
    dumps = [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for p in plan]
    return sum(len(text.encode()) + 1 for text in dumps)


async def test_a_split_dry_run_lists_at_most_each_shards_share_of_the_status_plans(
    tmp_path: Path,
) -> None:
    sharded = ShardSettings(
        "crossplane-system",
        "replica-a",
        SHARDS,
        shards=tuple(range(SHARDS)),
        lease_duration=2.0,
        renew_deadline=1.4,
        retry_period=0.2,
    )
    async with running(tmp_path, shards=sharded) as h:
        shard = {name: i % SHARDS for i, name in enumerate(CLUSTERS)}
        for name in CLUSTERS:
            labels = {"env": "gpu", SHARD_LABEL: str(shard[name])}
            h.mgmt.apply(capi_cluster(name, labels=labels), field_manager="test")
        for name in CLUSTERS:
            await h.wait_workload(name)
        spec = {"clusterSelector": {"matchLabels": {"env": "gpu"}}, "clusterRef": None}
        h.mgmt.apply(bundle("fleet", [_addon("a")], **spec), field_manager="test")
        await h.wait_bundle("fleet", is_ready, within=60)
        marks = {name: h.workload(name).writes.mark() for name in CLUSTERS}

        h.mgmt.apply(
            bundle("fleet", [_addon("b")], syncMode="DryRun", **spec), field_manager="test"
        )

        def planned(b: Obj) -> bool:
            entries = (b.get("status") or {}).get("clusters") or []
            return (
                len(entries) == len(CLUSTERS)
                and all(
                    "planTruncated" in e["addons"][0] or e["addons"][0].get("plan") for e in entries
                )
                and condition(b, "Ready").get("reason") == "DryRun"
            )

        got = await h.wait_bundle("fleet", planned, within=60)
        addons = {e["clusterRef"]["name"]: e["addons"][0] for e in got["status"]["clusters"]}

        # Each shard lists its clusters' plans in name order up to its share; the rest are
        # counted, and each cut add-on says so.
        share = MAX_STATUS_PLAN_BYTES // SHARDS
        for n in range(SHARDS):
            names = [name for name in CLUSTERS if shard[name] == n]
            listed = [_size(addons[name].get("plan") or []) for name in names]
            assert sum(listed) <= share, (n, listed)
            assert sum(listed) > share * 0.8, (n, listed)
            assert "planTruncated" not in addons[names[0]], names[0]
            last = addons[names[-1]]
            assert last["planTruncated"]["total"] == OBJECTS, names[-1]
            assert last["planTruncated"]["listed"] < OBJECTS, names[-1]
            assert f"of {OBJECTS} objects" in last["message"], last["message"]
        assert len(json.dumps(got["status"])) < 1024 * 1024  # etcd stores up to 1.5 MiB

        cut = sum("planTruncated" in a for a in addons.values())
        ready = condition(got, "Ready")
        assert ready["message"] == (
            "dry run: nothing is applied; each add-on's message says what would change;"
            f" {cut} add-on plan(s) cut to fit in status (planTruncated counts the rest)"
        )
        await h.settle()
        for name in CLUSTERS:
            assert h.workload(name).writes.filter(since=marks[name]) == [], name
