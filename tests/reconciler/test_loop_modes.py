"""Sync modes on the emulator: DryRun plans and writes nothing; OneTime applies once."""

from pathlib import Path

from tests.reconciler.harness import (
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    is_ready,
    running,
)

CRD_AND_CR = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
GADGET = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {size: 1}\n"


def messages(obj: dict) -> dict[str, str]:
    clusters = (obj.get("status") or {}).get("clusters") or [{"addons": []}]
    return {a["name"]: a.get("message", "") for a in clusters[0]["addons"]}


async def test_a_dry_run_plans_every_addon_writes_nothing_and_leaving_it_applies(
    tmp_path: Path,
) -> None:
    crds = {"name": "crds", "namespace": "apps", "manifests": CRD_AND_CR}
    gadget = {"name": "gadget", "namespace": "apps", "dependsOn": ["crds"], "manifests": GADGET}
    addons = [configmap_addon("plain"), crds, gadget]
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", addons, syncMode="DryRun"), field_manager="test")
        got = await h.wait_bundle(
            "stack",
            lambda b: (
                len(messages(b)) == 3 and all(m.startswith("dry run") for m in messages(b).values())
            ),
        )
        assert messages(got) == {
            "plain": "dry run: would create 1, update 0, delete 0 objects",
            "crds": "dry run: would create 1, update 0, delete 0 objects",
            "gadget": "dry run: would create 1, update 0, delete 0 objects",
        }
        assert set(addon_phases(got).values()) == {"Pending"}
        assert (condition(got, "Ready")["status"], condition(got, "Ready")["reason"]) == (
            "False",
            "DryRun",
        )
        await h.settle()
        workload = h.workload("c1")
        assert workload.writes.count(field_manager="aifleet") == 0

        h.mgmt.apply(bundle("stack", addons, syncMode="Continuous"), field_manager="test")
        got = await h.wait_bundle("stack", is_ready)
        assert workload.get("example.com/v1", "Gadget", "g", "apps")["spec"] == {"size": 1}

        # Back to a dry run after a change: the plan shows the update, the cluster keeps v1.
        addons[0] = configmap_addon("plain", data="v2")
        h.mgmt.apply(bundle("stack", addons, syncMode="DryRun"), field_manager="test")
        got = await h.wait_bundle(
            "stack",
            lambda b: messages(b).get("plain", "").startswith("dry run: would create 0, update 1"),
        )
        assert workload.get("v1", "ConfigMap", "plain", "apps")["data"]["value"] == "v1"


async def test_one_time_applies_once_and_ignores_later_changes(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [configmap_addon("a")], syncMode="OneTime"), field_manager="test"
        )
        await h.wait_bundle("stack", is_ready)
        workload = h.workload("c1")
        h.mgmt.apply(
            bundle("stack", [configmap_addon("a", data="v2")], syncMode="OneTime"),
            field_manager="test",
        )
        await h.wait_bundle("stack", lambda b: b["status"]["observedGeneration"] == 2)
        await h.settle()
        assert workload.get("v1", "ConfigMap", "a", "apps")["data"]["value"] == "v1"
