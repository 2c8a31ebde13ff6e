"""Bundles over time on the emulator: deletion, selectors, GPU gates, faults, leadership."""

import asyncio
from pathlib import Path

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.leader import LeaderElector, LeadershipLostError, LeaseSettings
from function.reconciler.timing import Timing
from tests.objects import gpu_operator_addon
from tests.reconciler.harness import (
    CAPI,
    NAMESPACE,
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    first_message,
    is_ready,
    running,
)

FINALIZER = "addons.aifleet.io/cleanup"


def available(cluster: dict) -> bool:
    conditions = (cluster.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


async def test_deleting_a_bundle_withdraws_its_addons_then_releases_it(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [configmap_addon("a"), configmap_addon("b", "a")]), field_manager="test"
        )
        got = await h.wait_bundle("stack", is_ready)
        assert got["metadata"]["finalizers"] == [FINALIZER]
        workload = h.workload("c1")
        mark = workload.writes.mark()

        await h.delete_bundle("stack")
        assert workload.writes.names(since=mark, verb="delete") == [
            "ConfigMap/apps/b",
            "ConfigMap/apps/a",
        ]
        assert workload.find("v1", "Namespace", "apps") is not None  # namespaces are shared


async def test_leave_addons_keeps_them_when_the_bundle_goes(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [configmap_addon("a")], stopMatchingBehavior="LeaveAddons"),
            field_manager="test",
        )
        await h.wait_bundle("stack", is_ready)
        await h.delete_bundle("stack")
        assert h.workload("c1").find("v1", "ConfigMap", "a", "apps") is not None


async def test_a_selector_follows_cluster_labels_and_withdraws_from_clusters_it_leaves(
    tmp_path: Path,
) -> None:
    selector = {"matchLabels": {"env": "prod"}}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", labels={"env": "prod"}), field_manager="test")
        h.mgmt.apply(capi_cluster("c2", labels={"env": "dev"}), field_manager="test")
        h.mgmt.apply(
            bundle("fleet", [configmap_addon("a")], clusterSelector=selector, clusterRef=None),
            field_manager="test",
        )
        got = await h.wait_bundle("fleet", is_ready)
        assert [c["clusterRef"]["name"] for c in got["status"]["clusters"]] == ["c1"]

        h.mgmt.apply(capi_cluster("c2", labels={"env": "prod"}), field_manager="test")
        got = await h.wait_bundle(
            "fleet", lambda b: is_ready(b) and len(b["status"]["clusters"]) == 2
        )
        assert h.workload("c2").find("v1", "ConfigMap", "a", "apps") is not None

        h.mgmt.apply(capi_cluster("c1", labels={"env": "staging"}), field_manager="test")
        got = await h.wait_bundle(
            "fleet", lambda b: [c["clusterRef"]["name"] for c in b["status"]["clusters"]] == ["c2"]
        )
        await eventually(
            lambda: h.workload("c1").find("v1", "ConfigMap", "a", "apps") is None,
            within=10,
            what="withdrawal from c1",
        )


async def test_a_model_waits_for_allocatable_gpus(tmp_path: Path) -> None:
    policy = gpu_operator_addon()
    model = {**configmap_addon("model", "gpu-operator"), "gate": "GPUAllocatable"}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", gpu_nodes=2), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.simulation.disable("clusterpolicy-ready")
        h.mgmt.apply(bundle("stack", [model, policy]), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: addon_phases(b).get("gpu-operator") == "Waiting"
        )
        assert addon_phases(got)["model"] == "Pending"

        workload.simulation.enable("clusterpolicy-ready")
        got = await h.wait_bundle("stack", is_ready)
        nodes = workload.list("v1", "Node")
        assert sum(int(n["status"]["allocatable"].get("nvidia.com/gpu", 0)) for n in nodes) == 4


async def test_a_gpu_gate_on_a_cluster_without_gpus_keeps_waiting(tmp_path: Path) -> None:
    model = {**configmap_addon("model"), "gate": "GPUAllocatable"}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1", gpu_nodes=0), field_manager="test")
        h.mgmt.apply(bundle("stack", [model]), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: first_message(b) == "waiting for allocatable GPUs"
        )
        assert addon_phases(got) == {"model": "Pending"}


async def test_workload_api_failures_are_retried_until_they_pass(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.faults.fail(500, verb="apply", times=3)
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"a": "Healthy"}
        assert workload.find("v1", "ConfigMap", "a", "apps") is not None


async def test_an_unreachable_workload_cluster_is_reported_and_retried(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        with workload.faults.offline():
            h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
            got = await h.wait_bundle(
                "stack",
                lambda b: (first_message(b) or "").startswith("workload cluster unreachable"),
            )
            assert condition(got, "Ready")["reason"] == "AddonsPending"
        await h.wait_bundle("stack", is_ready, within=30)


async def test_one_leader_at_a_time_and_a_standby_takes_over(tmp_path: Path) -> None:
    async with running(tmp_path) as h:

        def candidate(name: str) -> LeaderElector:
            client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
            settings = LeaseSettings(
                "kube-system", name, lease_duration=0.6, renew_deadline=0.4, retry_period=0.1
            )
            return LeaderElector(client, settings)

        a, b = candidate("a"), candidate("b")
        assert await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()
        lease = h.mgmt.get("coordination.k8s.io/v1", "Lease", "aifleet-reconciler", "kube-system")
        assert lease["spec"]["holderIdentity"] == "a"

        # a stops renewing; b takes over once the record has not changed for a lease duration.
        await asyncio.wait_for(b.acquire(), 5)
        lease = h.mgmt.get("coordination.k8s.io/v1", "Lease", "aifleet-reconciler", "kube-system")
        assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
        assert not await a.try_acquire_or_renew()

        await b.release()
        assert await a.try_acquire_or_renew()


async def test_drift_is_corrected_and_counted(tmp_path: Path) -> None:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: op}\n"
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: op}}\n"
        "  template:\n    metadata: {labels: {app: op}}\n"
        "    spec: {containers: [{name: op, image: op:1}]}\n"
    )
    addons = [
        {"name": "op", "namespace": "apps", "manifests": deployment},
        configmap_addon("cfg"),
    ]
    timing = Timing(waiting=0.05, gpu=0.1, drift=0.2, status=0.02)
    async with running(tmp_path, timing=timing) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", addons, syncMode="ContinuousWithDriftDetection"), field_manager="test"
        )
        await h.wait_bundle("stack", is_ready)
        workload = h.workload("c1")
        # Someone scales the Deployment by hand and deletes the ConfigMap.
        workload.patch(
            "apps/v1",
            "Deployment",
            "op",
            {"spec": {"replicas": 3}},
            namespace="apps",
            field_manager="kubectl-edit",
        )
        workload.delete("v1", "ConfigMap", "cfg", "apps")

        got = await h.wait_bundle(
            "stack", lambda b: (b["status"]["clusters"][0].get("drift") or {}).get("count") == 2
        )
        assert got["status"]["clusters"][0]["drift"]["lastDetected"]
        assert workload.get("apps/v1", "Deployment", "op", "apps")["spec"]["replicas"] == 1
        assert workload.find("v1", "ConfigMap", "cfg", "apps") is not None
        await eventually(
            lambda: any(
                e["reason"] == "DriftCorrected"
                for e in h.mgmt.list("v1", "Event", namespace=NAMESPACE)
            ),
            within=5,
            what="a DriftCorrected event",
        )


async def test_continuous_mode_leaves_drift_alone(tmp_path: Path) -> None:
    timing = Timing(waiting=0.05, gpu=0.1, drift=0.1, status=0.02)
    async with running(tmp_path, timing=timing) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        stack = bundle("stack", [configmap_addon("cfg")], syncMode="Continuous")
        h.mgmt.apply(stack, field_manager="test")
        await h.wait_bundle("stack", is_ready)
        h.mgmt.wait_for(CAPI, "Cluster", "c1", NAMESPACE, until=available)
        await h.settle()  # the template reads the cluster: let its last change be rendered
        workload = h.workload("c1")
        workload.delete("v1", "ConfigMap", "cfg", "apps")
        await asyncio.sleep(0.5)  # past the drift period: a check would be due in that mode
        assert h.app is not None
        h.app.reconciler.resync()  # every target converges again
        await h.settle()
        assert workload.find("v1", "ConfigMap", "cfg", "apps") is None


async def test_a_leader_that_cannot_renew_gives_up_by_its_renew_deadline(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        client = ApiAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        settings = LeaseSettings(
            "kube-system", "a", lease_duration=1.0, renew_deadline=0.5, retry_period=0.1
        )
        leader = LeaderElector(client, settings)
        await leader.acquire()
        with h.mgmt.faults.offline(), pytest.raises(LeadershipLostError):
            await asyncio.wait_for(leader.hold(), 5)
        assert not leader.is_leader
        await client.close()


async def test_deleting_a_bundle_while_it_is_being_applied_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    maps = "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m{i}}}\n" for i in range(4)
    )
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        workload.faults.slow(0.2, verb="apply")
        h.mgmt.apply(
            bundle("stack", [{"name": "slow", "namespace": "apps", "manifests": maps}]),
            field_manager="test",
        )
        await eventually(
            lambda: workload.find("v1", "ConfigMap", "m0", "apps") is not None,
            within=10,
            what="the first object",
        )
        await h.delete_bundle("stack", within=15)
        await h.settle()
        assert [m["metadata"]["name"] for m in workload.list("v1", "ConfigMap", "apps")] == []
