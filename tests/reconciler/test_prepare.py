"""Preparing rendered objects for apply: namespaces, ownership labels, hashes, install order."""

from typing import Any

from function.kube.client import ResourceInfo
from function.reconciler.apply import (
    ADDON_LABEL,
    BUNDLE_ANNOTATION,
    BUNDLE_LABEL,
    Owner,
    kind_key,
    prepare,
)
from function.reconciler.hashing import HASH_ANNOTATION

OWNER = Owner("team-a", "stack", "gpu-operator")


def obj(api: str, kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, **extra}}


def infos(
    *objects: dict[str, Any], cluster_scoped: tuple[str, ...] = ()
) -> dict[str, ResourceInfo | None]:
    return {
        kind_key(o): ResourceInfo(
            o["apiVersion"],
            o["kind"],
            o["kind"].lower() + "s",
            namespaced=o["kind"] not in cluster_scoped,
        )
        for o in objects
    }


def test_install_order_namespaces_and_crds_first_custom_resources_last() -> None:
    rendered = [
        obj("nvidia.com/v1", "ClusterPolicy", "cluster-policy"),
        obj("apps/v1", "Deployment", "op"),
        obj("v1", "ServiceAccount", "op"),
        obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "clusterpolicies.nvidia.com",
        ),
        obj("v1", "Namespace", "extra"),
    ]
    rendered[3]["spec"] = {
        "group": "nvidia.com",
        "scope": "Cluster",
        "names": {"kind": "ClusterPolicy"},
    }
    table = infos(*rendered[1:], cluster_scoped=("CustomResourceDefinition", "Namespace"))
    table[kind_key(rendered[0])] = None  # defined by the CRD in the same add-on
    out = prepare(rendered, OWNER, table, default_namespace="gpu-operator")
    assert [o["kind"] for o in out] == [
        "Namespace",
        "ServiceAccount",
        "CustomResourceDefinition",
        "Deployment",
        "ClusterPolicy",
    ]
    by_kind = {o["kind"]: o["metadata"] for o in out}
    assert by_kind["Deployment"]["namespace"] == "gpu-operator"
    assert "namespace" not in by_kind["ClusterPolicy"]  # its CRD says Cluster scope
    assert "namespace" not in by_kind["Namespace"]


def test_ownership_labels_and_hash_annotation() -> None:
    rendered = [obj("v1", "ConfigMap", "cfg", labels={"app": "x"}, namespace="other")]
    out = prepare(rendered, OWNER, infos(*rendered), default_namespace="gpu-operator")
    m = out[0]["metadata"]
    assert m["namespace"] == "other"
    assert m["labels"] == {"app": "x", BUNDLE_LABEL: OWNER.bundle_id, ADDON_LABEL: "gpu-operator"}
    assert m["annotations"][BUNDLE_ANNOTATION] == "team-a/stack"
    assert (
        m["annotations"][HASH_ANNOTATION].startswith("sha256:")
        or len(m["annotations"][HASH_ANNOTATION]) >= 32
    )
    again = prepare(rendered, OWNER, infos(*rendered), default_namespace="gpu-operator")
    assert again[0]["metadata"]["annotations"][HASH_ANNOTATION] == m["annotations"][HASH_ANNOTATION]
    rendered[0]["data"] = {"k": "v"}
    changed = prepare(rendered, OWNER, infos(*rendered), default_namespace="gpu-operator")
    assert (
        changed[0]["metadata"]["annotations"][HASH_ANNOTATION] != m["annotations"][HASH_ANNOTATION]
    )
    assert rendered[0]["metadata"] == {"name": "cfg", "labels": {"app": "x"}, "namespace": "other"}
