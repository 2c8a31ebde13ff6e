"""EventTriggers end to end on the emulator: match → bundle → add-ons applied, and back."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import yaml

from function.reconciler.eventwatch import WatchKey
from function.reconciler.store import GroupKind, ObjectId
from function.testing import EmulatedCluster
from tests.reconciler.harness import NAMESPACE, capi_cluster, eventually, is_ready, running
from tests.reconciler.placement_harness import Clock
from tests.reconciler.triggers_harness import (
    REPO,
    events_of,
    gpu_source,
    matching_names,
    ready_reason,
    source,
    trigger,
    trigger_bundles,
    utilization,
    wait_trigger,
)


def instantiated_of(obj: dict[str, Any], cluster: str = "c1") -> list[dict[str, Any]]:
    """The add-on sets a trigger reports for one source cluster."""
    for entry in (obj.get("status") or {}).get("clusters") or []:
        if entry["clusterRef"]["name"] == cluster:
            return list(entry.get("instantiated") or [])
    return []


CLUSTER_C1 = ObjectId(GroupKind("cluster.x-k8s.io", "Cluster"), NAMESPACE, "c1")


async def test_a_match_instantiates_the_addons_and_a_non_match_withdraws_them(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "50%")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        got = await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "Evaluated")
        assert matching_names(got) == []
        assert trigger_bundles(h, "scale-up") == []

        utilization(workload, "85%")
        got = await wait_trigger(h, "scale-up", lambda t: matching_names(t) == ["gpu-utilization"])
        bundle = await h.wait_bundle("scale-up-c1", is_ready)
        assert bundle["spec"]["clusterRef"]["name"] == "c1"
        cm = workload.get("v1", "ConfigMap", "extra-server-all", "serving")
        assert cm["data"] == {"cluster": "c1", "events": "1"}
        matched = events_of(h, "Matched")
        assert [e["message"] for e in matched] == [
            "ConfigMap monitoring/gpu-utilization on c1: GPU utilization 85% is above 80%"
        ]
        got = await wait_trigger(
            h, "scale-up", lambda t: [m["ready"] for m in instantiated_of(t)] == [True]
        )
        assert got["status"]["clusters"][0]["instantiated"][0]["phases"] == {
            "extra-server": "Healthy"
        }

        utilization(workload, "40%")
        await wait_trigger(h, "scale-up", lambda t: matching_names(t) == [])
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "extra-server-all", "serving") is None,
            within=10,
            what="the add-on withdrawn",
        )
        await eventually(  # its bundle goes once its finalizer has withdrawn the add-on
            lambda: trigger_bundles(h, "scale-up") == [], within=10, what="the bundle deleted"
        )
        assert len(events_of(h, "Unmatched")) == 1


async def test_one_for_event_gives_one_set_per_matching_object_with_stable_names(
    tmp_path: Path,
) -> None:
    every = gpu_source()
    del every["spec"]["resourceSelectors"][0]["name"]
    every["spec"]["resourceSelectors"][0]["namespace"] = "monitoring"
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        for name in ("gpu-a", "gpu-b", "gpu-c"):
            utilization(workload, "95", name)
        h.mgmt.apply(every, field_manager="test")
        h.mgmt.apply(
            trigger("per-gpu", "gpu-utilization-high", oneForEvent=True), field_manager="test"
        )
        await wait_trigger(h, "per-gpu", lambda t: len(matching_names(t)) == 3)
        await eventually(
            lambda: len(trigger_bundles(h, "per-gpu")) == 3, within=10, what="three bundles"
        )
        names = trigger_bundles(h, "per-gpu")
        for cm in ("gpu-a", "gpu-b", "gpu-c"):
            await eventually(
                lambda cm=cm: (
                    workload.find("v1", "ConfigMap", f"extra-server-{cm}", "serving") is not None
                ),
                within=10,
                what=f"the set of {cm}",
            )
        got = await wait_trigger(
            h, "per-gpu", lambda t: [m["ready"] for m in instantiated_of(t)] == [True] * 3
        )
        made = instantiated_of(got)
        assert sorted(m["bundle"] for m in made) == names
        assert sorted(m["resource"]["name"] for m in made) == ["gpu-a", "gpu-b", "gpu-c"]
        assert all(m["phases"] == {"extra-server": "Healthy"} for m in made)
        assert sorted(e["message"] for e in events_of(h, "Matched")) == [
            f"ConfigMap monitoring/{cm} on c1: GPU utilization 95% is above 80%"
            for cm in ("gpu-a", "gpu-b", "gpu-c")
        ]

        utilization(workload, "10", "gpu-b")
        got = await wait_trigger(h, "per-gpu", lambda t: matching_names(t) == ["gpu-a", "gpu-c"])
        assert [(e["type"], e["message"]) for e in events_of(h, "Unmatched")] == [
            ("Normal", "ConfigMap monitoring/gpu-b on c1")
        ]
        await wait_trigger(h, "per-gpu", lambda t: len(instantiated_of(t)) == 2)
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "extra-server-gpu-b", "serving") is None,
            within=10,
            what="gpu-b's set withdrawn",
        )
        left = trigger_bundles(h, "per-gpu")
        assert len(left) == 2 and set(left) < set(names)  # the others kept their names
        assert workload.find("v1", "ConfigMap", "extra-server-gpu-a", "serving") is not None


async def test_a_flapping_object_converges_to_its_last_state_without_duplicate_sets(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "50")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "Evaluated")
        mgmt_mark, workload_mark = h.mgmt.writes.mark(), workload.writes.mark()
        for value in ("90", "10", "91", "12", "93", "20", "95"):  # faster than a reconcile
            utilization(workload, value)
        await h.wait_bundle("scale-up-c1", is_ready)
        await h.settle()
        assert trigger_bundles(h, "scale-up") == ["scale-up-c1"]
        assert workload.find("v1", "ConfigMap", "extra-server-all", "serving") is not None
        for value in ("10", "91", "12", "93", "20"):  # slow enough for each to be seen
            utilization(workload, value)
            await asyncio.sleep(0.05)
        await h.settle()
        await eventually(
            lambda: trigger_bundles(h, "scale-up") == [], within=10, what="the bundle withdrawn"
        )
        assert workload.find("v1", "ConfigMap", "extra-server-all", "serving") is None

        # Every set was made once and withdrawn once, never made twice: the write logs
        # alternate between creating and deleting the bundle and its add-on.
        bundle = [
            r.verb
            for r in h.mgmt.writes.filter(since=mgmt_mark, kind="AddonBundle", name="scale-up-c1")
            if r.verb in ("apply", "delete")
        ]
        addon = [
            r.verb
            for r in workload.writes.filter(since=workload_mark, name="extra-server-all")
            if r.verb in ("apply", "delete")
        ]
        for verbs in (bundle, addon):
            assert verbs[0] == "apply" and verbs[-1] == "delete", verbs
            assert all(a != b for a, b in itertools.pairwise(verbs)), verbs
        assert len(addon) <= len(bundle)
        mark = workload.writes.mark()
        await h.settle(quiet=0.5)
        assert workload.writes.names(since=mark) == []  # converged: nothing left to apply


def write_requests(cluster: EmulatedCluster, since: int) -> list[str]:
    """The write requests a cluster answered since ``since``, effective or not."""
    return [
        f"{r.verb} {r.kind}/{r.name} {r.subresource}".rstrip()
        for r in cluster.requests.filter(since=since)
        if r.verb in ("create", "update", "patch", "apply", "delete", "deletecollection")
    ]


async def test_a_watch_gap_and_an_expired_watch_tear_nothing_down_and_rewrite_nothing(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        await h.wait_bundle("scale-up-c1", is_ready)
        await wait_trigger(
            h, "scale-up", lambda t: [m["ready"] for m in instantiated_of(t)] == [True]
        )
        await h.settle()
        clock.advance(3600)  # an hour later: a status rewritten for nothing would show
        mgmt_mark, workload_mark = h.mgmt.writes.mark(), workload.writes.mark()
        requests = h.mgmt.requests.mark()
        assert h.app is not None
        view = h.app.triggers.watches.view(WatchKey(CLUSTER_C1, "", "v1", "ConfigMap"))
        assert view is not None and view.lists == 1

        expired = workload.faults.fail(410, verb="watch", kind="ConfigMap", times=None)
        workload.faults.drop_watches("ConfigMap")
        with workload.faults.offline():
            await asyncio.sleep(0.3)  # the watch is down and cannot reconnect
            h.app.triggers.resync()  # the trigger is looked at during the gap
            await h.settle(quiet=0.5)
        await eventually(lambda: view.lists >= 2, within=15, what="the relist after the 410")
        workload.faults.remove(expired)
        h.app.triggers.resync()
        await h.settle(quiet=0.5)
        assert trigger_bundles(h, "scale-up") == ["scale-up-c1"]
        assert workload.find("v1", "ConfigMap", "extra-server-all", "serving") is not None
        assert h.mgmt.writes.names(since=mgmt_mark) == []
        assert write_requests(h.mgmt, requests) == []  # not even an apply that changed nothing
        assert workload.writes.names(since=workload_mark) == []


async def test_a_restart_while_an_event_is_instantiated_writes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        await h.wait_bundle("scale-up-c1", is_ready)
        await wait_trigger(
            h, "scale-up", lambda t: [m["ready"] for m in instantiated_of(t)] == [True]
        )
        await h.settle()
        clock.advance(3600)  # restarted an hour later
        mgmt_mark, workload_mark = h.mgmt.writes.mark(), workload.writes.mark()
        requests = h.mgmt.requests.mark()
        watches = workload.requests.count(verb="watch", kind="ConfigMap")
        await h.restart()
        await eventually(
            lambda: workload.requests.count(verb="watch", kind="ConfigMap") > watches,
            within=10,
            what="the new watch",
        )
        await h.settle(quiet=0.5)
        assert h.mgmt.writes.names(since=mgmt_mark) == []
        assert write_requests(h.mgmt, requests) == []
        assert workload.writes.names(since=workload_mark) == []


async def test_a_trigger_selects_only_clusters_of_its_own_namespace(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        for namespace in (NAMESPACE, "team-b"):
            h.mgmt.apply(gpu_source(namespace), field_manager="test")
        h.mgmt.apply(
            trigger("other-team", "gpu-utilization-high", namespace="team-b"), field_manager="test"
        )
        h.mgmt.apply(trigger("own-team", "gpu-utilization-high"), field_manager="test")
        # The same trigger in the cluster's own namespace selects it and matches.
        await h.wait_bundle("own-team-c1", is_ready)
        await h.settle()
        got = await wait_trigger(
            h, "other-team", lambda t: ready_reason(t) == "Evaluated", namespace="team-b"
        )
        assert got["status"].get("clusters", []) == []
        assert got["status"]["conditions"][0]["message"] == "0 matching object(s) on 0 cluster(s)"
        assert h.mgmt.list("addons.aifleet.io/v1alpha1", "AddonBundle", "team-b") == []
        assert trigger_bundles(h, "other-team") == []
        assert h.app is not None
        assert h.app.triggers.watches.owners(CLUSTER_C1) == [f"{NAMESPACE}/own-team"]


async def test_a_bad_rule_is_reported_with_its_line_and_nothing_is_applied(tmp_path: Path) -> None:
    broken = "function evaluate()\n  local hs = {matching = true\n  return hs\nend\n"
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        h.mgmt.apply(source("broken", broken), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "broken"), field_manager="test")
        got = await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "InvalidRule")
        ready = got["status"]["conditions"][0]
        assert ready["status"] == "False"
        assert "EventSource team-a/broken/resourceSelectors[0]" in ready["message"]
        assert ":3:" in ready["message"] or "line 3" in ready["message"]
        warnings = events_of(h, "InvalidRule")
        assert [e["type"] for e in warnings] == ["Warning"]
        assert warnings[0]["message"] == ready["message"]
        assert trigger_bundles(h, "scale-up") == []


async def test_a_rule_failing_at_run_time_keeps_what_was_instantiated(tmp_path: Path) -> None:
    rule = (
        "function evaluate()\n"
        "  if obj.data.utilization == 'boom' then error('cannot read ' .. obj.metadata.name) end\n"
        "  return {matching = tonumber(obj.data.utilization) > 80}\n"
        "end\n"
    )
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        h.mgmt.apply(source("fragile", rule), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "fragile"), field_manager="test")
        await h.wait_bundle("scale-up-c1", is_ready)
        utilization(workload, "boom")
        got = await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "RuleFailed")
        message = got["status"]["conditions"][0]["message"]
        assert "cannot read gpu-utilization" in message and "fragile" in message
        assert matching_names(got) == ["gpu-utilization"]  # not evaluated: still matching
        await h.settle()
        assert trigger_bundles(h, "scale-up") == ["scale-up-c1"]
        assert workload.find("v1", "ConfigMap", "extra-server-all", "serving") is not None
        assert [e["type"] for e in events_of(h, "RuleFailed")] == ["Warning"]

        utilization(workload, "20")
        await wait_trigger(h, "scale-up", lambda t: ready_reason(t) == "Evaluated")
        await eventually(lambda: trigger_bundles(h, "scale-up") == [], within=10, what="withdrawn")


async def test_the_example_trigger_adds_a_model_server_above_80_percent(tmp_path: Path) -> None:
    example = yaml.safe_load((REPO / "examples/events/gpu-utilization-scale-up.yaml").read_text())
    labels = {"aifleet.io/gpu-product": "H100-80GB"}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels=labels), field_manager="test")
        h.mgmt.apply(capi_cluster("cpu-only"), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "87%")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(example, field_manager="test")
        await h.wait_bundle("scale-up-c1", is_ready)
        server = workload.get("apps/v1", "Deployment", "c1-extra-server", "serving")
        assert server["metadata"]["annotations"]["aifleet.io/triggered-by"] == (
            "GPU utilisation 87%"
        )
        got = await wait_trigger(h, "scale-up", lambda t: matching_names(t) == ["gpu-utilization"])
        assert [c["clusterRef"]["name"] for c in got["status"]["clusters"]] == ["c1"]
        utilization(workload, "45%")
        await eventually(
            lambda: workload.find("apps/v1", "Deployment", "c1-extra-server", "serving") is None,
            within=10,
            what="the extra server withdrawn",
        )
