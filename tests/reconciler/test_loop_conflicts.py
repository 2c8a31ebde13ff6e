"""Two bundles applying the same object to one cluster: the lower tier wins, the other says so."""

from pathlib import Path

from function.reconciler.apply import BUNDLE_ANNOTATION
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    Harness,
    Obj,
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)


def _addon(b: Obj, name: str) -> Obj:
    clusters = (b.get("status") or {}).get("clusters") or []
    for addon in clusters[0]["addons"] if clusters else []:
        if addon["name"] == name:
            return dict(addon)
    return {}


def _shared(h: Harness) -> Obj:
    return h.workload("c1").get("v1", "ConfigMap", "shared", "apps")


async def _warning(h: Harness, bundle_name: str, reason: str, text: str) -> None:
    def found() -> bool:
        return any(
            e["reason"] == reason
            and e["type"] == "Warning"
            and e["involvedObject"]["name"] == bundle_name
            and text in e["message"]
            for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE)
        )

    await eventually(found, within=5, what=f"a {reason} event on {bundle_name}")


async def test_a_tier_conflict_is_reported_both_ways(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        # The higher tier first: it applies the object...
        h.mgmt.apply(bundle("app", [configmap_addon("shared", data="app")]), field_manager="test")
        await h.wait_bundle("app", is_ready)
        assert _shared(h)["data"]["value"] == "app"

        # ...then a lower tier arrives: it takes the object, and the first one reports it lost.
        base = bundle("base", [configmap_addon("shared", data="base")], tier=10)
        h.mgmt.apply(base, field_manager="test")
        await h.wait_bundle("base", is_ready)
        app = await h.wait_bundle("app", lambda b: addon_phases(b) == {"shared": "Failed"})
        assert _addon(app, "shared")["conflicts"] == [
            {"object": "ConfigMap apps/shared", "winner": f"{NAMESPACE}/base", "winnerTier": 10}
        ]
        assert (
            f"managed by AddonBundle {NAMESPACE}/base (tier 10)" in _addon(app, "shared")["message"]
        )
        assert not is_ready(app)
        live = _shared(h)
        assert live["data"]["value"] == "base"
        assert live["metadata"]["annotations"][BUNDLE_ANNOTATION] == f"{NAMESPACE}/base"
        await _warning(h, "app", "AddonFailed", f"{NAMESPACE}/base (tier 10)")

        # The other way: a higher tier arriving after the winner is refused, nothing written.
        workload = h.workload("c1")
        await h.settle()
        mark = workload.writes.mark()
        h.mgmt.apply(bundle("late", [configmap_addon("shared", data="late")]), field_manager="test")
        late = await h.wait_bundle("late", lambda b: addon_phases(b) == {"shared": "Failed"})
        assert _addon(late, "shared")["conflicts"] == [
            {"object": "ConfigMap apps/shared", "winner": f"{NAMESPACE}/base", "winnerTier": 10}
        ]
        await h.settle()
        assert workload.writes.filter(since=mark, kind="ConfigMap") == []
        assert _shared(h)["data"]["value"] == "base"
        assert is_ready(h.bundle("base"))
        await _warning(h, "late", "AddonFailed", f"{NAMESPACE}/base (tier 10)")


async def test_continue_on_conflict_applies_the_rest_and_still_reports(tmp_path: Path) -> None:
    two = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {value: mine}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: own}\ndata: {value: mine}\n"
    )
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        base = bundle("base", [configmap_addon("shared", data="base")], tier=10)
        h.mgmt.apply(base, field_manager="test")
        await h.wait_bundle("base", is_ready)
        lenient = bundle(
            "lenient",
            [{"name": "pair", "namespace": "apps", "manifests": two}],
            continueOnConflict=True,
        )
        h.mgmt.apply(lenient, field_manager="test")
        got = await h.wait_bundle("lenient", is_ready)
        assert _addon(got, "pair")["conflicts"] == [
            {"object": "ConfigMap apps/shared", "winner": f"{NAMESPACE}/base", "winnerTier": 10}
        ]
        workload = h.workload("c1")
        assert workload.get("v1", "ConfigMap", "own", "apps")["data"] == {"value": "mine"}
        assert _shared(h)["data"]["value"] == "base"


async def test_an_object_another_field_manager_owns_is_not_taken_over(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
        by_hand = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": "apps"},
            "data": {"value": "by-hand"},
        }
        workload.create(by_hand, field_manager="kubectl-create")
        h.mgmt.apply(bundle("app", [configmap_addon("shared", data="app")]), field_manager="test")
        got = await h.wait_bundle("app", lambda b: addon_phases(b) == {"shared": "Failed"})
        assert "forceConflicts" in _addon(got, "shared")["message"]
        assert _shared(h)["data"]["value"] == "by-hand"
        assert workload.writes.count(kind="ConfigMap", field_manager="aifleet") == 0


async def _loser_waits_on(h: Harness, winner: Obj) -> None:
    """``winner`` (tier 10) applies the shared ConfigMap; ``app`` then reports the conflict."""
    h.mgmt.apply(winner, field_manager="test")
    await h.wait_bundle("base", is_ready)
    h.mgmt.apply(bundle("app", [configmap_addon("shared", data="app")]), field_manager="test")
    app = await h.wait_bundle("app", lambda b: addon_phases(b) == {"shared": "Failed"})
    assert _addon(app, "shared")["conflicts"] == [
        {"object": "ConfigMap apps/shared", "winner": f"{NAMESPACE}/base", "winnerTier": 10}
    ]
    assert any(
        c["type"] == "Ready" and c["status"] == "False"
        for c in app["status"].get("conditions") or []
    )
    await _warning(h, "app", "AddonFailed", f"{NAMESPACE}/base (tier 10)")
    assert _shared(h)["data"]["value"] == "base"


async def test_the_loser_applies_at_once_when_the_winner_is_deleted(tmp_path: Path) -> None:
    # No resync within the test: only the winner's withdrawal can bring the loser back.
    async with running(tmp_path, resync_period=3600.0) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        await _loser_waits_on(h, bundle("base", [configmap_addon("shared", data="base")], tier=10))

        h.mgmt.delete(BUNDLE_API, "AddonBundle", "base", NAMESPACE)
        app = await h.wait_bundle("app", is_ready, within=3)
        assert _addon(app, "shared").get("conflicts") is None
        live = _shared(h)
        assert live["data"]["value"] == "app"
        assert live["metadata"]["annotations"][BUNDLE_ANNOTATION] == f"{NAMESPACE}/app"


async def test_the_loser_applies_at_once_when_the_winner_stops_selecting(tmp_path: Path) -> None:
    selector = {"matchLabels": {"shared": "yes"}}
    async with running(tmp_path, resync_period=3600.0) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"shared": "yes"}), field_manager="test")
        winner = bundle(
            "base",
            [configmap_addon("shared", data="base")],
            tier=10,
            clusterSelector=selector,
            clusterRef=None,
        )
        await _loser_waits_on(h, winner)

        winner["spec"]["clusterSelector"] = {"matchLabels": {"shared": "no"}}
        h.mgmt.apply(winner, field_manager="test")
        app = await h.wait_bundle("app", is_ready, within=3)
        assert _addon(app, "shared").get("conflicts") is None
        live = _shared(h)
        assert live["data"]["value"] == "app"
        assert live["metadata"]["annotations"][BUNDLE_ANNOTATION] == f"{NAMESPACE}/app"


async def test_the_loser_applies_at_once_when_the_winner_drops_the_addon(tmp_path: Path) -> None:
    async with running(tmp_path, resync_period=3600.0) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        winner = bundle(
            "base",
            [configmap_addon("shared", data="base"), configmap_addon("other", data="base")],
            tier=10,
        )
        await _loser_waits_on(h, winner)

        winner["spec"]["addons"] = [configmap_addon("other", data="base")]
        h.mgmt.apply(winner, field_manager="test")
        app = await h.wait_bundle("app", is_ready, within=3)
        assert _addon(app, "shared").get("conflicts") is None
        assert _shared(h)["data"]["value"] == "app"
        assert h.workload("c1").get("v1", "ConfigMap", "other", "apps")["data"]["value"] == "base"


async def test_a_loser_that_went_on_takes_the_object_when_the_winner_leaves(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, resync_period=3600.0) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        base = bundle("base", [configmap_addon("shared", data="base")], tier=10)
        h.mgmt.apply(base, field_manager="test")
        await h.wait_bundle("base", is_ready)
        lenient = bundle(
            "lenient", [configmap_addon("shared", data="mine")], continueOnConflict=True
        )
        h.mgmt.apply(lenient, field_manager="test")
        got = await h.wait_bundle("lenient", is_ready)
        assert _addon(got, "shared")["conflicts"]
        assert _shared(h)["data"]["value"] == "base"

        h.mgmt.delete(BUNDLE_API, "AddonBundle", "base", NAMESPACE)
        await eventually(
            lambda: (
                (h.workload("c1").find("v1", "ConfigMap", "shared", "apps") or {})
                .get("data", {})
                .get("value")
                == "mine"
            ),
            within=3,
            what="the lenient bundle's ConfigMap",
        )
        got = await h.wait_bundle("lenient", lambda b: not _addon(b, "shared").get("conflicts"))
        assert is_ready(got)


async def test_the_loser_applies_at_once_when_the_winner_stops_rendering_the_object(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, resync_period=3600.0) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        winner = bundle("base", [configmap_addon("shared", data="base")], tier=10)
        await _loser_waits_on(h, winner)

        # The winner keeps its add-on; its template now renders another ConfigMap instead.
        addon = winner["spec"]["addons"][0]
        addon["manifests"] = addon["manifests"].replace("name: shared", "name: renamed")
        h.mgmt.apply(winner, field_manager="test")
        app = await h.wait_bundle("app", is_ready, within=3)
        assert _addon(app, "shared").get("conflicts") is None
        live = _shared(h)
        assert live["data"]["value"] == "app"
        assert live["metadata"]["annotations"][BUNDLE_ANNOTATION] == f"{NAMESPACE}/app"
        renamed = h.workload("c1").get("v1", "ConfigMap", "renamed", "apps")
        assert renamed["metadata"]["annotations"][BUNDLE_ANNOTATION] == f"{NAMESPACE}/base"
        base = await h.wait_bundle("base", is_ready)
        assert _addon(base, "shared").get("conflicts") is None
