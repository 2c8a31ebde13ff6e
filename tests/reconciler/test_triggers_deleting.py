"""An add-on set being deleted is made again only once it is gone, never written meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from function.model.objects import meta
from function.reconciler.targets import BUNDLE as TRIGGER_BUNDLE
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    capi_cluster,
    eventually,
    is_ready,
    running,
)
from tests.reconciler.triggers_harness import (
    gpu_source,
    matching_names,
    trigger,
    utilization,
    wait_trigger,
)

BUNDLE = "scale-up-c1"


async def test_a_set_being_deleted_is_made_again_with_the_new_matches_once_it_is_gone(
    tmp_path: Path,
) -> None:
    every = gpu_source()
    del every["spec"]["resourceSelectors"][0]["name"]  # every ConfigMap of monitoring
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "95", "gpu-a")
        h.mgmt.apply(every, field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        old = await h.wait_bundle(BUNDLE, is_ready)
        await h.settle()
        assert workload.get("v1", "ConfigMap", "extra-server-all", "serving")["data"]["events"] == (
            "1"
        )

        # The set is deleted while its object still matches, and its add-on cannot be
        # withdrawn yet: the bundle stays terminating, held by its finalizer.
        stuck = workload.faults.fail(500, verb="delete", kind="ConfigMap", times=None)
        mgmt, on_c1 = h.mgmt.writes.mark(), workload.writes.mark()
        h.mgmt.delete(BUNDLE_API, "AddonBundle", BUNDLE, NAMESPACE)
        # The trigger decides from the reconciler's cache: a change that reaches it before the
        # deletion does is applied to the bundle as to any other (the API accepts it).
        assert h.app is not None
        store = h.app.store
        await eventually(
            lambda: bool(
                meta(store.get(TRIGGER_BUNDLE, NAMESPACE, BUNDLE) or {}).get("deletionTimestamp")
            ),
            within=5,
            what="the deletion seen by the reconciler",
        )
        # Meanwhile a second object matches: the set wanted now differs from the one going.
        utilization(workload, "95", "gpu-b")
        await wait_trigger(h, "scale-up", lambda t: matching_names(t) == ["gpu-a", "gpu-b"])
        await asyncio.sleep(0.3)
        going = h.mgmt.get(BUNDLE_API, "AddonBundle", BUNDLE, NAMESPACE)
        assert going["metadata"].get("deletionTimestamp")
        assert going["metadata"]["uid"] == old["metadata"]["uid"]
        assert len(going["spec"]["eventData"]["matchingResources"]) == 1
        assert h.mgmt.writes.filter(since=mgmt, name=BUNDLE, field_manager="aifleet-events") == []

        workload.faults.remove(stuck)
        await eventually(
            lambda: (
                (
                    (workload.find("v1", "ConfigMap", "extra-server-all", "serving") or {}).get(
                        "data"
                    )
                    or {}
                ).get("events")
                == "2"
            ),
            within=10,
            what="the new set's add-on applied",
        )
        new = await h.wait_bundle(BUNDLE, is_ready)
        assert new["metadata"]["uid"] != old["metadata"]["uid"]
        # In the management cluster: the old set is removed, then the new one is made, once.
        records = h.mgmt.writes.filter(since=mgmt, name=BUNDLE)
        made = [r for r in records if r.field_manager == "aifleet-events"]
        assert [r.verb for r in made] == ["apply"]
        before = [r for r in records if r.seq < made[0].seq and not r.subresource]
        assert [r.verb for r in before] == ["delete", "patch"]  # marked, then its finalizer off
        assert before[-1].field_manager == "aifleet" and before[-1].time <= made[0].time
        # In the workload cluster: the old add-on is withdrawn before the new one is applied.
        addon = workload.writes.filter(since=on_c1, name="extra-server-all")
        assert [r.verb for r in addon] == ["delete", "apply"]
        assert addon[0].time <= addon[1].time
