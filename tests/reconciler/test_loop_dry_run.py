"""DryRun over an applied bundle: per-object actions and diffs in status, nothing written, and
a plan of thousands of objects or huge diffs cut to fit in status, with counts of the rest."""

import json
from pathlib import Path

from function.model.plan import MAX_DIFF_LINE_CHARS, MAX_DIFF_LINES, MAX_PLAN_ENTRIES
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


KEY = "setting-" + "k" * 200
BIG_KEYS = 300


def _big(letter: str) -> str:
    """One ConfigMap of 300 long keys, each with a value of a thousand ``letter``s."""
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
        "{% for i in range(" + str(BIG_KEYS) + ") %}"
        "  " + KEY + "{{ i }}: '{{ '" + letter + "' * 1000 }}'\n{% endfor %}"
    )


def _many(count: int) -> str:
    """``count`` small ConfigMaps."""
    return (
        "{% for i in range(" + str(count) + ") %}"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'many-{{ i }}'}\n"
        "data: {value: v}\n{% endfor %}"
    )


async def test_a_dry_run_of_thousands_of_objects_and_huge_diffs_fits_in_status(
    tmp_path: Path,
) -> None:
    def addons(letter: str, count: int) -> list[Obj]:
        return [
            {"name": "big", "namespace": "apps", "manifests": _big(letter)},
            {"name": "many", "namespace": "apps", "manifests": _many(count)},
        ]

    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons("a", 5)), field_manager="test")
        await h.wait_bundle("stack", is_ready, within=30)
        workload = h.workload("c1")
        workload.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "many-7", "namespace": "apps"},
                "data": {"value": "by-hand"},
            },
            field_manager="kubectl-create",
        )
        await h.settle()
        mark, asked = workload.writes.mark(), workload.requests.mark()

        h.mgmt.apply(bundle("stack", addons("b", 2000), syncMode="DryRun"), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: bool(_plan(b, "big")) and bool(_plan(b, "many")), within=60
        )
        by_name = {a["name"]: a for a in got["status"]["clusters"][0]["addons"]}

        # Every field of the big object would change: its diff lists the first 20, each
        # line cut to a readable length, and counts the others.
        (big,) = _plan(got, "big")
        assert (big["action"], big["object"]) == ("Update", "ConfigMap apps/big")
        assert len(big["diff"]) == MAX_DIFF_LINES + 1
        assert big["diff"][-1] == f"… and {BIG_KEYS - MAX_DIFF_LINES} more fields"
        assert all(len(line) <= MAX_DIFF_LINE_CHARS for line in big["diff"])
        assert big["diff"][0].endswith(f'"{"a" * 78}… -> "{"b" * 78}…')
        assert "planTruncated" not in by_name["big"]

        # Two thousand objects: the conflict with a hand-made object and the first creations
        # are listed (found by listing ConfigMaps, not by 2,000 reads), the rest counted.
        many = _plan(got, "many")
        assert len(many) == MAX_PLAN_ENTRIES
        assert [(p["action"], p["object"]) for p in many[:3]] == [
            ("Create", "ConfigMap apps/many-5"),
            ("Create", "ConfigMap apps/many-6"),
            ("Conflict", "ConfigMap apps/many-7"),  # listed in plan order
        ]
        assert "kubectl-create" in many[2]["message"]
        assert {p["action"] for p in many[3:]} == {"Create"}
        assert by_name["many"]["planTruncated"] == {
            "total": 2000,
            "listed": MAX_PLAN_ENTRIES,
            "create": 1994 - (MAX_PLAN_ENTRIES - 1),
            "update": 0,
            "delete": 0,
            "conflict": 0,
            "noAction": 5,
        }
        assert by_name["many"]["message"] == (
            "dry run: would create 1994, update 0, delete 0 objects; 1 conflict;"
            f" listing {MAX_PLAN_ENTRIES} of 2000 objects"
        )
        assert len(json.dumps(got["status"])) < 256 * 1024  # etcd stores up to 1.5 MiB
        await h.settle()
        assert workload.writes.filter(since=mark) == []
        assert workload.requests.count(since=asked, verb="get", kind="ConfigMap") < 20
        assert workload.requests.count(since=asked, verb="list", kind="ConfigMap") >= 1
        assert workload.find("v1", "ConfigMap", "many-5", "apps") is None
        assert workload.get("v1", "ConfigMap", "big", "apps")["data"][f"{KEY}0"] == "a" * 1000
