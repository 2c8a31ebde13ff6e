"""Operating the reconciler: Crossplane-provisioned clusters, recreated clusters, probes and
metrics, and the RBAC of `examples/install` covering every request it makes."""

import asyncio
import base64
import socket
import urllib.request
from pathlib import Path

from function.reconciler.leader import LeaseSettings
from tests.objects import crd
from tests.reconciler.harness import (
    BUNDLE_API,
    CAPI,
    NAMESPACE,
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    first_message,
    is_ready,
    running,
)
from tests.reconciler.triggers_harness import gpu_source, trigger, utilization

MR_API = "eks.aws.m.upbound.io/v1beta1"
MR_CRD = crd("eks.aws.m.upbound.io", "Cluster", versions=("v1beta1",), status=True)


async def test_a_crossplane_managed_cluster_is_targeted_through_its_connection_secret(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(MR_CRD, field_manager="crossplane")
        h.mgmt.wait_for(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "clusters.eks.aws.m.upbound.io",
            until=lambda crd: bool((crd.get("status") or {}).get("conditions")),
        )
        eks = h.fleet.add_cluster("eks-1")
        h.mgmt.simulation.disable("managed-resource-ready")
        h.mgmt.apply(
            {
                "apiVersion": MR_API,
                "kind": "Cluster",
                "metadata": {"name": "eks-1", "namespace": NAMESPACE},
                "spec": {
                    "forProvider": {"region": "eu-west-1"},
                    "writeConnectionSecretToRef": {"name": "eks-1-conn"},
                },
            },
            field_manager="crossplane",
        )
        kubeconfig = base64.b64encode(eks.kubeconfig_yaml().encode()).decode()
        h.mgmt.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "eks-1-conn", "namespace": NAMESPACE},
                "data": {"kubeconfig": kubeconfig},
            }
        )
        ref = {"apiVersion": MR_API, "kind": "Cluster", "name": "eks-1"}
        h.mgmt.apply(bundle("stack", [configmap_addon("a")], clusterRef=ref), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: first_message(b) == "waiting for Cluster to be Ready and Synced"
        )
        assert eks.find("v1", "ConfigMap", "a", "apps") is None

        h.mgmt.simulation.enable("managed-resource-ready")
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"a": "Healthy"}
        assert eks.get("v1", "ConfigMap", "a", "apps")["data"]["cluster"] == "eks-1"


async def test_a_cluster_recreated_under_its_name_gets_its_addons_again(tmp_path: Path) -> None:
    addon = {
        "name": "plain",
        "namespace": "apps",
        "manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [addon]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        old = h.mgmt.get(CAPI, "Cluster", "c1", NAMESPACE)["metadata"]["uid"]

        h.mgmt.delete(CAPI, "Cluster", "c1", NAMESPACE)
        h.mgmt.wait_gone(CAPI, "Cluster", "c1", NAMESPACE)
        await h.wait_bundle("stack", lambda b: not is_ready(b))
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        await eventually(
            lambda: (
                (h.mgmt.find(CAPI, "Cluster", "c1", NAMESPACE) or {}).get("metadata", {}).get("uid")
                not in (None, old)
            ),
            within=5,
            what="the new cluster",
        )
        await h.wait_bundle("stack", is_ready)
        await eventually(
            lambda: h.workload("c1").find("v1", "ConfigMap", "plain", "apps") is not None,
            within=10,
            what="the add-on in the new cluster",
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_probes_and_metrics(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    async with running(tmp_path, probe_address=address) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        await h.wait_bundle("stack", is_ready)

        def fetch(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://{address}{path}") as response:
                return response.status, response.read().decode()

        assert await asyncio.to_thread(fetch, "/healthz") == (200, "ok")
        assert await asyncio.to_thread(fetch, "/readyz") == (200, "ok")
        _, metrics = await asyncio.to_thread(fetch, "/metrics")
        assert (
            'aifleet_addon_phase{addon="a",bundle="team-a/stack",'
            'cluster="team-a/c1",phase="Healthy"} 1.0'
        ) in metrics
        assert "aifleet_applied_objects_total 1.0" in metrics
        assert 'aifleet_reconcile_total{key="target",result="success"}' in metrics
        assert "aifleet_workqueue_depth" in metrics


async def test_the_install_rbac_covers_every_request_to_the_management_cluster(
    tmp_path: Path,
) -> None:
    lease = LeaseSettings("crossplane-system", "r1")
    async with running(tmp_path, lease=lease, rbac=True) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        await h.delete_bundle("stack")
        # An event trigger instantiates a bundle, and withdraws it when the event is over.
        utilization(h.workload("c1"), "90")
        h.mgmt.apply(gpu_source(), field_manager="test")
        h.mgmt.apply(
            trigger("scale-up", "gpu-utilization-high", sourceClusterSelector={}),
            field_manager="test",
        )
        await h.wait_bundle("scale-up-c1", is_ready)
        utilization(h.workload("c1"), "10")
        await eventually(
            lambda: h.mgmt.find(BUNDLE_API, "AddonBundle", "scale-up-c1", NAMESPACE) is None,
            within=10,
            what="the trigger's bundle withdrawn",
        )
    # The emulator denied nothing the reconciler asked for, of the requests below at least.
    assert [d.message for d in h.mgmt.rbac_denials] == []
    plurals = {
        "AddonBundle": "addonbundles",
        "EventTrigger": "eventtriggers",
        "Event": "events",
        "Lease": "leases",
    }
    made = set()
    for request in h.mgmt.requests.filter():
        if request.kind in plurals and request.code < 400:
            group = request.api_version.rpartition("/")[0]
            resource = plurals[request.kind] + (
                f"/{request.subresource}" if request.subresource else ""
            )
            made.add(("patch" if request.verb == "apply" else request.verb, group, resource))
    assert {
        ("watch", "addons.aifleet.io", "addonbundles"),
        ("patch", "addons.aifleet.io", "addonbundles/status"),
        ("create", "", "events"),
        ("update", "coordination.k8s.io", "leases"),
        ("watch", "addons.aifleet.io", "eventtriggers"),
        ("patch", "addons.aifleet.io", "eventtriggers/status"),
        ("delete", "addons.aifleet.io", "addonbundles"),
    } <= made
