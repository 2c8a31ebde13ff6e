"""EventTriggers over several source clusters: a change on one leaves the others alone."""

from __future__ import annotations

from pathlib import Path

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
    trigger_bundles,
    utilization,
    wait_trigger,
)


async def test_an_event_on_one_cluster_leaves_the_others_sets_and_a_lost_set_is_made_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        for name in ("c1", "c2"):
            h.mgmt.apply(capi_cluster(name, labels={"gpu": "true"}), field_manager="test")
        c1, c2 = await h.wait_workload("c1"), await h.wait_workload("c2")
        utilization(c1, "50")
        utilization(c2, "85")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        await h.wait_bundle("scale-up-c2", is_ready)
        await h.settle()
        mark = h.mgmt.writes.mark()

        utilization(c1, "90")
        await h.wait_bundle("scale-up-c1", is_ready)
        got = await wait_trigger(h, "scale-up", lambda t: matching_names(t, "c1") != [])
        assert matching_names(got, "c1") == matching_names(got, "c2") == ["gpu-utilization"]
        await h.settle()
        assert h.mgmt.writes.names(since=mark, kind="AddonBundle", name="scale-up-c2") == []
        assert c2.find("v1", "ConfigMap", "extra-server-all", "serving") is not None

        # A set deleted by hand while its object still matches is made again.
        mark = c2.writes.mark()
        h.mgmt.delete(BUNDLE_API, "AddonBundle", "scale-up-c2", NAMESPACE)
        await eventually(
            lambda: (
                [r.verb for r in c2.writes.filter(since=mark, name="extra-server-all")]
                == ["delete", "apply"]
            ),
            within=10,
            what="the add-on withdrawn with its bundle, then applied again",
        )
        await h.wait_bundle("scale-up-c2", is_ready)

        # A cluster leaving the selection takes its set with it; the other keeps its own.
        h.mgmt.apply(capi_cluster("c2", labels={"gpu": "false"}), field_manager="test")
        await eventually(
            lambda: trigger_bundles(h, "scale-up") == ["scale-up-c1"],
            within=10,
            what="c2's set withdrawn",
        )
        got = await wait_trigger(
            h,
            "scale-up",
            lambda t: [c["clusterRef"]["name"] for c in t["status"]["clusters"]] == ["c1"],
        )
        assert matching_names(got, "c1") == ["gpu-utilization"]
        assert c1.find("v1", "ConfigMap", "extra-server-all", "serving") is not None
