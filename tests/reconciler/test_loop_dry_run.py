"""DryRun over an applied bundle: per-object actions and diffs in status, nothing written."""

from pathlib import Path

from tests.reconciler.harness import (
    NAMESPACE,
    Obj,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    is_ready,
    running,
)


def _configmap(name: str, value: str) -> str:
    return (
        "---\napiVersion: v1\nkind: ConfigMap\n"
        f"metadata: {{name: {name}}}\ndata: {{value: {value}}}\n"
    )


def _secret(password: str) -> str:
    return (
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
        f"stringData: {{password: {password}}}\n"
    )


def _plan(b: Obj, addon: str) -> list[Obj]:
    clusters = (b.get("status") or {}).get("clusters") or []
    for entry in clusters[0]["addons"] if clusters else []:
        if entry["name"] == addon:
            return list(entry.get("plan") or [])
    return []


async def test_a_dry_run_of_a_changed_bundle_reports_each_action_and_writes_nothing(
    tmp_path: Path,
) -> None:
    applied = (
        _secret("old-pass-x1")
        + _configmap("keep", "same")
        + _configmap("change", "v1")
        + _configmap("stale", "v1")
    )
    changed = (
        _secret("new-pass-x2")
        + _configmap("keep", "same")
        + _configmap("change", "v2")
        + _configmap("fresh", "v1")
        + _configmap("taken", "mine")
        + _configmap("by-hand", "mine")
    )
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [{"name": "app", "namespace": "apps", "manifests": applied}]),
            field_manager="test",
        )
        h.mgmt.apply(
            bundle("base", [configmap_addon("taken", data="base")], tier=10), field_manager="test"
        )
        await h.wait_bundle("stack", is_ready)
        await h.wait_bundle("base", is_ready)
        workload = h.workload("c1")
        workload.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "by-hand", "namespace": "apps"},
                "data": {"value": "by-hand"},
            },
            field_manager="kubectl-create",
        )
        await h.settle()
        mark = workload.writes.mark()

        h.mgmt.apply(
            bundle(
                "stack",
                [{"name": "app", "namespace": "apps", "manifests": changed}],
                syncMode="DryRun",
            ),
            field_manager="test",
        )
        got = await h.wait_bundle("stack", lambda b: bool(_plan(b, "app")))
        plan = _plan(got, "app")
        by_hand = next(p for p in plan if p["object"] == "ConfigMap apps/by-hand")
        assert "kubectl-create" in by_hand["message"]
        assert [p for p in plan if p is not by_hand] == [
            {
                "action": "Update",
                "object": "Secret apps/creds",
                "diff": ["/data/password: (changed)"],
            },
            {"action": "No Action", "object": "ConfigMap apps/keep"},
            {
                "action": "Update",
                "object": "ConfigMap apps/change",
                "diff": ['/data/value: "v1" -> "v2"'],
            },
            {"action": "Create", "object": "ConfigMap apps/fresh"},
            {
                "action": "Conflict",
                "object": "ConfigMap apps/taken",
                "message": "conflict: ConfigMap apps/taken is managed by AddonBundle"
                f" {NAMESPACE}/base (tier 10)",
            },
            {"action": "Delete", "object": "ConfigMap apps/stale"},
        ]
        assert plan.index(by_hand) == 5 and by_hand["action"] == "Conflict"
        message = got["status"]["clusters"][0]["addons"][0]["message"]
        assert message == "dry run: would create 1, update 2, delete 1 objects; 2 conflicts"
        assert condition(got, "Ready")["reason"] == "DryRun"
        await h.settle()
        assert workload.writes.filter(since=mark) == []
        assert workload.get("v1", "ConfigMap", "change", "apps")["data"] == {"value": "v1"}
        assert workload.find("v1", "ConfigMap", "stale", "apps") is not None
        assert workload.find("v1", "ConfigMap", "fresh", "apps") is None
        # Secret values never reach status.
        assert "pass-x" not in str(got["status"])
