"""Clusters a cloud family composed, on the emulator: a ``clusterSelector`` picks an EKS
``Cluster`` managed resource beside Cluster API Clusters, the reconciler finds its kubeconfig
where the family stamped it (the ClusterAuth's Secret, key ``kubeconfig``), and waits for the
managed resource to be ``Ready`` and ``Synced`` before it applies anything."""

from pathlib import Path

from function.compose import CompositeResource, compose
from function.model.input import FunctionInput
from tests.reconciler.harness import (
    NAMESPACE,
    REPO,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)

EKS_CRD = REPO / "tests" / "schemas" / "eks.aws.m.upbound.io_clusters.yaml"
SELECTOR = {"matchLabels": {"aifleet.io/environment": "prod"}}


def eks_cluster(name: str) -> dict:
    """The EKS Cluster the function composes for an XR (labels, kubeconfig annotations)."""
    spec = {
        "provider": "eks",
        "eks": {
            "roleArn": "arn:aws:iam::123456789012:role/cluster",
            "nodeRoleArn": "arn:aws:iam::123456789012:role/nodes",
            "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"],
        },
        "region": "us-east-1",
        "environment": "prod",
        "gpu": {"product": "L4"},
    }
    xr = CompositeResource("aifleet.io/v1alpha1", "AIInferenceCluster", name, NAMESPACE, spec=spec)
    body: dict = compose(xr, {}, FunctionInput()).resources["cluster"].body
    return body


def managed_status(ready: bool) -> dict:
    value = "True" if ready else "False"
    return {
        "conditions": [
            {"type": "Ready", "status": value, "reason": "Available" if ready else "Creating"},
            {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
        ]
    }


async def test_a_selector_picks_an_eks_cluster_by_its_labels_once_it_is_ready(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply_manifests(EKS_CRD.read_text(), field_manager="crossplane")
        h.mgmt.simulation.disable("managed-resource-ready")  # the test plays the provider
        eks = h.fleet.add_cluster("eks-prod")
        cluster = eks_cluster("chat-eks")
        annotations = cluster["metadata"]["annotations"]
        assert annotations["aifleet.io/kubeconfig-secret"] == "chat-eks-kubeconfig"
        h.mgmt.apply(cluster, field_manager="crossplane")
        h.mgmt.patch_status(
            cluster["apiVersion"], "Cluster", "chat-eks", managed_status(False), namespace=NAMESPACE
        )
        h.mgmt.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "chat-eks-kubeconfig", "namespace": NAMESPACE},
                "stringData": {"kubeconfig": eks.kubeconfig_yaml()},
            }
        )
        labels = {"aifleet.io/environment": "prod"}
        h.mgmt.apply(capi_cluster("c1", labels=labels), field_manager="test")
        h.mgmt.apply(
            bundle("fleet", [configmap_addon("a")], clusterSelector=SELECTOR, clusterRef=None),
            field_manager="test",
        )

        def listed(b: dict) -> list[tuple[str, str]]:
            return sorted(
                (c["clusterRef"]["kind"], c["clusterRef"]["name"])
                for c in (b.get("status") or {}).get("clusters") or []
            )

        got = await h.wait_bundle(
            "fleet", lambda b: listed(b) == [("Cluster", "c1"), ("Cluster", "chat-eks")]
        )
        eks_entry = next(c for c in got["status"]["clusters"] if c["clusterRef"]["name"] != "c1")
        assert eks_entry["clusterRef"]["apiVersion"] == "eks.aws.m.upbound.io/v1beta1"
        assert eks_entry["ready"] is False
        assert eks.find("v1", "ConfigMap", "a", "apps") is None  # not Ready: nothing applied

        h.mgmt.patch_status(
            cluster["apiVersion"], "Cluster", "chat-eks", managed_status(True), namespace=NAMESPACE
        )
        await h.wait_bundle("fleet", is_ready)
        await eventually(
            lambda: eks.find("v1", "ConfigMap", "a", "apps") is not None,
            within=10,
            what="the add-on on the EKS cluster",
        )
        assert h.workload("c1").find("v1", "ConfigMap", "a", "apps") is not None
