"""The reconciler over several clusters of one class: renders shared, per-cluster state small."""

from pathlib import Path

from function.reconciler.apply import BUNDLE_ANNOTATION, BUNDLE_LABEL, Owner
from tests.reconciler.harness import (
    NAMESPACE,
    Harness,
    Obj,
    bundle,
    capi_cluster,
    configmap_addon,
    is_ready,
    running,
)

PLAIN = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {value: same-everywhere}\n"
)


def _apply_bundles(h: Harness, names: list[str], addons: list[Obj]) -> None:
    for name in names:
        ref = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": name}
        h.mgmt.apply(bundle(f"stack-{name}", addons, clusterRef=ref), field_manager="test")


async def test_clusters_of_one_class_render_each_addon_once_and_each_gets_its_own_stamps(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        names = ["c1", "c2", "c3"]
        for name in names:
            h.mgmt.apply(capi_cluster(name), field_manager="test")
        other = PLAIN.replace("shared", "other")
        plain = [
            {"name": "plain", "namespace": "apps", "manifests": PLAIN},
            {"name": "other", "namespace": "apps", "manifests": other, "dependsOn": ["plain"]},
        ]
        _apply_bundles(h, names, plain)
        for name in names:
            await h.wait_bundle(f"stack-{name}", is_ready)
        assert h.app is not None
        assert h.app.converger.counts.renders == 2  # two add-ons, whatever the clusters
        for name in names:
            shared = h.workload(name).get("v1", "ConfigMap", "shared", "apps")
            assert shared["data"] == {"value": "same-everywhere"}
            owner = Owner(NAMESPACE, f"stack-{name}", "plain")
            assert shared["metadata"]["labels"][BUNDLE_LABEL] == owner.bundle_id
            assert shared["metadata"]["annotations"][BUNDLE_ANNOTATION] == (
                f"{NAMESPACE}/stack-{name}"
            )

        # An add-on that reads the cluster renders for each cluster.
        _apply_bundles(h, names, [*plain, configmap_addon("templated", "other")])
        for name in names:
            await h.wait_bundle(
                f"stack-{name}", lambda b: is_ready(b) and b["status"]["observedGeneration"] == 2
            )
        for name in names:
            templated = h.workload(name).get("v1", "ConfigMap", "templated", "apps")
            assert templated["data"]["cluster"] == name


async def test_a_namespace_deleted_behind_the_reconcilers_back_is_created_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        await h.settle()
        workload = h.workload("c1")
        workload.delete("v1", "Namespace", "apps")
        h.mgmt.apply(bundle("stack", [configmap_addon("a", data="v2")]), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: is_ready(b) and b["status"]["observedGeneration"] == 2
        )
        assert got["status"]["clusters"][0]["addons"][0]["phase"] == "Healthy"
        assert workload.get("v1", "ConfigMap", "a", "apps")["data"]["value"] == "v2"
        assert workload.find("v1", "Namespace", "apps") is not None
