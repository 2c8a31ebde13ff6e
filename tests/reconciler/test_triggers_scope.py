"""An event on one source cluster does work for that cluster only: its triggers, its sets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from function.reconciler.keys import TriggerKey
from tests.reconciler.harness import NAMESPACE, Harness, capi_cluster, is_ready, running
from tests.reconciler.triggers_harness import (
    gpu_source,
    matching_names,
    trigger,
    trigger_bundles,
    utilization,
    wait_trigger,
)

FLEET = "fleet-wide"
POOL = "pool-b"
POOL_ADDON = {
    "name": "pool-server",
    "namespace": "serving",
    "manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pool-server}\n",
}


def work(h: Harness, name: str) -> tuple[int, Counter[str]]:
    """(reconciles, evaluations per source cluster) of a trigger so far."""
    assert h.app is not None
    memory = h.app.triggers.memory_of(TriggerKey(NAMESPACE, name))
    assert memory is not None
    return memory.reconciles, Counter(memory.evaluations)


async def test_an_event_on_one_cluster_evaluates_and_writes_for_that_cluster_only(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"gpu": "true"}), field_manager="test")
        for name in ("c2", "c3"):
            labels = {"gpu": "true", "pool": "b"}
            h.mgmt.apply(capi_cluster(name, labels=labels), field_manager="test")
        c1, c2, c3 = [await h.wait_workload(n) for n in ("c1", "c2", "c3")]
        utilization(c1, "50")
        utilization(c2, "85")
        utilization(c3, "50")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(trigger(FLEET, "gpu-utilization-high"), field_manager="test")
        h.mgmt.apply(
            trigger(POOL, "gpu-utilization-high", labels={"pool": "b"}, addons=[POOL_ADDON]),
            field_manager="test",
        )
        for made in (f"{FLEET}-c2", f"{POOL}-c2"):
            await h.wait_bundle(made, is_ready)
        await h.settle()
        fleet_before, pool_before = work(h, FLEET), work(h, POOL)
        assert set(fleet_before[1]) == {"c1", "c2", "c3"} and set(pool_before[1]) == {"c2", "c3"}
        mgmt, on_c2, on_c3 = h.mgmt.writes.mark(), c2.writes.mark(), c3.writes.mark()

        utilization(c1, "90")
        await h.wait_bundle(f"{FLEET}-c1", is_ready)
        await wait_trigger(h, FLEET, lambda t: matching_names(t, "c1") == ["gpu-utilization"])
        await h.settle()

        # Only c1 was looked at again, by the one trigger that selects it.
        reconciles, evaluations = work(h, FLEET)
        assert reconciles > fleet_before[0]
        assert set(evaluations - fleet_before[1]) == {"c1"}
        assert work(h, POOL) == pool_before
        # Only c1's set was written; the other clusters saw no write at all.
        assert set(h.mgmt.writes.names(since=mgmt, kind="AddonBundle")) == {
            f"AddonBundle/{NAMESPACE}/{FLEET}-c1"
        }
        assert set(h.mgmt.writes.names(since=mgmt, kind="EventTrigger")) <= {
            f"EventTrigger/{NAMESPACE}/{FLEET}"
        }
        assert c2.writes.names(since=on_c2) == [] and c3.writes.names(since=on_c3) == []
        assert trigger_bundles(h, FLEET) == [f"{FLEET}-c1", f"{FLEET}-c2"]
        assert trigger_bundles(h, POOL) == [f"{POOL}-c2"]
