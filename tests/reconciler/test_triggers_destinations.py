"""EventTriggers: add-ons on other clusters than the source, and a trigger's deletion."""

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


async def test_a_destination_selector_sends_the_addons_to_its_clusters_not_the_source(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        h.mgmt.apply(capi_cluster("burst", labels={"role": "burst"}), field_manager="test")
        source = await h.wait_workload("c1")
        burst = await h.wait_workload("burst")
        utilization(source, "85")
        h.mgmt.apply(gpu_source(), field_manager="test")
        spec = {"destinationClusterSelector": {"matchLabels": {"role": "burst"}}}
        h.mgmt.apply(trigger("overflow", "gpu-utilization-high", **spec), field_manager="test")
        bundle = await h.wait_bundle("overflow-c1", is_ready)
        assert bundle["spec"]["clusterSelector"] == {"matchLabels": {"role": "burst"}}
        cm = burst.get("v1", "ConfigMap", "extra-server-all", "serving")
        assert cm["data"]["cluster"] == "burst"
        assert source.find("v1", "ConfigMap", "extra-server-all", "serving") is None
        got = await wait_trigger(
            h,
            "overflow",
            lambda t: any(
                m.get("destinations")
                for c in (t.get("status") or {}).get("clusters") or []
                for m in c.get("instantiated") or []
            ),
        )
        made = got["status"]["clusters"][0]["instantiated"][0]
        assert [d["name"] for d in made["destinations"]] == ["burst"]
        assert matching_names(got) == ["gpu-utilization"]


async def test_deleting_a_trigger_withdraws_what_it_instantiated(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        workload = await h.wait_workload("c1")
        utilization(workload, "85")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger("scale-up", "gpu-utilization-high"), field_manager="test")
        await h.wait_bundle("scale-up-c1", is_ready)
        watches = h.app.triggers.watches.active() if h.app else []
        assert len(watches) == 1
        h.mgmt.delete(BUNDLE_API, "EventTrigger", "scale-up", NAMESPACE)
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "extra-server-all", "serving") is None,
            within=10,
            what="the add-on withdrawn",
        )
        # The bundle goes once its finalizer has seen its objects deleted, just after them.
        await eventually(
            lambda: trigger_bundles(h, "scale-up") == [], within=10, what="the bundle gone"
        )
        assert h.app is not None and h.app.triggers.watches.active() == []
