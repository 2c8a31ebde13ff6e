"""Inputs read from the management cluster: a change to one reaches the workload cluster.

An add-on's input hash is remembered with the versions of what it was computed from, so a pass
over unchanged inputs hashes nothing; these tests change each kind of input (a
``manifestsFrom`` ConfigMap, a ``templateResourceRefs`` ConfigMap, the bundle's spec) between
passes whose other inputs stay as they were, and expect the change applied.
"""

from pathlib import Path
from typing import Any

from tests.reconciler.harness import NAMESPACE, Harness, bundle, capi_cluster, is_ready, running

SOURCE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-source\n"
    "data:\n  value: {value}\n  cluster: '{{{{ cluster.metadata.name }}}}'\n"
)
REFERENCED = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-ref\n"
    "data:\n  tier: '{{ resources.platform.data.tier }}'\n"
)


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": data,
    }


def inputs_bundle(**spec: Any) -> dict[str, Any]:
    addons = [
        {
            "name": "sourced",
            "namespace": "apps",
            "manifestsFrom": [{"kind": "ConfigMap", "name": "manifests"}],
        },
        {"name": "referenced", "namespace": "apps", "manifests": REFERENCED},
    ]
    platform = {"apiVersion": "v1", "kind": "ConfigMap", "name": "platform"}
    refs = [{"identifier": "platform", "resource": platform}]
    return bundle("inputs", addons, templateResourceRefs=refs, **spec)


def workload_value(h: Harness, name: str, key: str) -> str | None:
    obj = h.workload("c1").find("v1", "ConfigMap", name, "apps")
    return None if obj is None else obj.get("data", {}).get(key)


async def resynced_until(h: Harness, check: Any, what: str) -> None:
    """Resync (the ConfigMaps are not watched) until ``check`` holds."""
    assert h.app is not None
    for _ in range(50):
        h.app.reconciler.resync()
        await h.settle(quiet=0.1)
        if check():
            return
    raise AssertionError(f"not applied after 50 resyncs: {what}")


async def test_a_changed_configmap_a_template_reads_is_applied_on_the_next_pass(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            configmap("manifests", {"cm.yaml": SOURCE.format(value="v1")}), field_manager="test"
        )
        h.mgmt.apply(configmap("platform", {"tier": "gold"}), field_manager="test")
        h.mgmt.apply(inputs_bundle(), field_manager="test")
        await h.wait_bundle("inputs", is_ready)
        assert workload_value(h, "from-source", "value") == "v1"
        assert workload_value(h, "from-ref", "tier") == "gold"
        assert h.app is not None
        await h.settle(quiet=0.2)  # a late input event may still be passing: count after it
        counts = h.app.converger.counts
        written, hashes = counts.written, counts.input_hashes
        h.app.reconciler.resync()  # nothing changed: nothing written, nothing hashed
        await h.settle(quiet=0.2)
        assert (counts.written, counts.input_hashes) == (written, hashes)
        memory = h.app.converger.memory
        (target,) = memory.targets()
        record = memory.get(target)
        assert record is not None and set(record.hashed) == {"sourced", "referenced"}
        sourced, referenced = record.hashed["sourced"], record.hashed["referenced"]
        assert sourced[0] is referenced[0]  # the target's versions, held once for its add-ons
        assert sourced[3] != referenced[3]  # each add-on's own input hash

        h.mgmt.apply(
            configmap("manifests", {"cm.yaml": SOURCE.format(value="v2")}), field_manager="test"
        )
        await resynced_until(
            h, lambda: workload_value(h, "from-source", "value") == "v2", "manifestsFrom"
        )
        assert workload_value(h, "from-ref", "tier") == "gold"

        h.mgmt.apply(configmap("platform", {"tier": "silver"}), field_manager="test")
        await resynced_until(
            h, lambda: workload_value(h, "from-ref", "tier") == "silver", "templateResourceRefs"
        )

        h.mgmt.delete("v1", "ConfigMap", "manifests", NAMESPACE)  # a missing source fails it
        h.app.reconciler.resync()
        got = await h.wait_bundle(
            "inputs",
            lambda b: b["status"]["clusters"][0]["addons"][0]["phase"] == "Failed",
        )
        assert "does not exist" in got["status"]["clusters"][0]["addons"][0]["message"]
