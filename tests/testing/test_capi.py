"""Simulated Cluster API provisioning: a Cluster becomes a reachable workload cluster."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config

from function.testing import (
    EmulatedCluster,
    Fleet,
    install_capi_crds,
    install_gpu_operator_crds,
    workload_cluster_name,
)

AUTOSCALER = "capacity.cluster-autoscaler.kubernetes.io/"
V1BETA2_CONDITIONS = (
    "InfrastructureReady",
    "ControlPlaneInitialized",
    "ControlPlaneAvailable",
    "WorkersAvailable",
    "RemoteConnectionProbe",
    "Available",
)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet(simulation_delay=0.005) as running:
        yield running


@pytest.fixture
def management(fleet: Fleet) -> EmulatedCluster:
    cluster = fleet.add_cluster("mgmt")
    install_capi_crds(cluster)
    return cluster


def capi_cluster(name: str = "gpu-1", version: str = "v1beta2", **spec: Any) -> dict[str, Any]:
    gpu_pool = {
        "class": "gpu-worker",
        "name": "gpu",
        "replicas": 1,
        "metadata": {
            "labels": {"node.cluster.x-k8s.io/accelerator": "nvidia-h100", "ignored": "x"},
            "annotations": {
                AUTOSCALER + "gpu-count": "4",
                AUTOSCALER + "gpu-type": "nvidia.com/gpu",
                AUTOSCALER + "labels": "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3,pool=gpu",
            },
        },
    }
    topology = {
        "version": "v1.33.1",
        "controlPlane": {"replicas": 3},
        "workers": {
            "machineDeployments": [
                {"class": "cpu-worker", "name": "cpu", "replicas": 2},
                gpu_pool,
            ]
        },
    }
    return {
        "apiVersion": f"cluster.x-k8s.io/{version}",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"topology": topology, **spec},
    }


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


def wait_available(management: EmulatedCluster, name: str = "gpu-1") -> dict[str, Any]:
    return management.wait_for(
        "cluster.x-k8s.io/v1beta2",
        "Cluster",
        name,
        "default",
        until=lambda c: conditions(c).get("Available") == "True",
    )


def workload_client(management: EmulatedCluster, name: str = "gpu-1") -> client.CoreV1Api:
    secret = management.get("v1", "Secret", f"{name}-kubeconfig", "default")
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    return client.CoreV1Api(config.new_client_from_config_dict(kubeconfig))


def test_cluster_is_provisioned_with_both_api_versions(
    fleet: Fleet, management: EmulatedCluster
) -> None:
    management.create(capi_cluster())
    available = wait_available(management)
    status = available["status"]
    assert status["phase"] == "Provisioned"
    assert status["initialization"] == {
        "infrastructureProvisioned": True,
        "controlPlaneInitialized": True,
    }
    assert all(conditions(available)[t] == "True" for t in V1BETA2_CONDITIONS)
    assert status["workers"]["readyReplicas"] == 3
    assert status["controlPlane"]["readyReplicas"] == 3
    assert "cluster.cluster.x-k8s.io" in available["metadata"]["finalizers"]
    custom = client.CustomObjectsApi(management.api_client())
    old = custom.get_namespaced_custom_object(
        "cluster.x-k8s.io", "v1beta1", "default", "clusters", "gpu-1"
    )
    assert old["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert old["status"]["infrastructureReady"] and old["status"]["controlPlaneReady"]
    assert conditions(old)["Ready"] == "True"
    assert workload_cluster_name("mgmt", "default", "gpu-1") in fleet


def test_kubeconfig_secret_reaches_the_workload_cluster(management: EmulatedCluster) -> None:
    management.create(capi_cluster())
    wait_available(management)
    secret = management.get("v1", "Secret", "gpu-1-kubeconfig", "default")
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"] == {"cluster.x-k8s.io/cluster-name": "gpu-1"}
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Cluster"
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    assert kubeconfig["current-context"] == "gpu-1-admin@gpu-1"
    nodes = workload_client(management).list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["gpu-1-cpu-0", "gpu-1-cpu-1", "gpu-1-gpu-0"]
    gpu = next(n for n in nodes if n.metadata.name == "gpu-1-gpu-0")
    assert gpu.metadata.labels["node.cluster.x-k8s.io/accelerator"] == "nvidia-h100"
    assert gpu.metadata.labels["pool"] == "gpu"
    assert "ignored" not in gpu.metadata.labels
    assert "nvidia.com/gpu.present" not in gpu.metadata.labels
    assert gpu.status.node_info.kubelet_version == "v1.33.1"


def test_an_autoscaled_pool_without_replicas_starts_at_its_minimum(
    management: EmulatedCluster,
) -> None:
    cluster = capi_cluster()
    cpu, gpu = cluster["spec"]["topology"]["workers"]["machineDeployments"]
    del cpu["replicas"]  # no bounds either: Cluster API's default of 1
    del gpu["replicas"]
    gpu["metadata"]["annotations"] |= {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "2",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "4",
    }
    management.create(cluster)
    assert wait_available(management)["status"]["workers"]["readyReplicas"] == 3
    nodes = workload_client(management).list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["gpu-1-cpu-0", "gpu-1-gpu-0", "gpu-1-gpu-1"]


def test_gpu_nodes_advertise_gpus_once_the_cluster_policy_is_ready(
    fleet: Fleet, management: EmulatedCluster
) -> None:
    management.create(capi_cluster())
    wait_available(management)
    workload = fleet[workload_cluster_name("mgmt", "default", "gpu-1")]
    install_gpu_operator_crds(workload)
    workload.create(
        {
            "apiVersion": "nvidia.com/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "cluster-policy"},
            "spec": {},
        }
    )
    gpu = workload.wait_for(
        "v1",
        "Node",
        "gpu-1-gpu-0",
        until=lambda n: n["status"]["allocatable"].get("nvidia.com/gpu") == "4",
    )
    labels = gpu["metadata"]["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/gpu.memory"] == "81559"
    cpu = workload.get("v1", "Node", "gpu-1-cpu-0")
    assert "nvidia.com/gpu" not in cpu["status"]["allocatable"]


def test_steps_can_hold_a_cluster_at_control_plane_initialized(
    fleet: Fleet, management: EmulatedCluster
) -> None:
    management.simulation.disable("capi-workers")
    management.create(capi_cluster())
    held = management.wait_for(
        "cluster.x-k8s.io/v1beta2",
        "Cluster",
        "gpu-1",
        "default",
        until=lambda c: conditions(c).get("ControlPlaneInitialized") == "True",
    )
    assert conditions(held)["WorkersAvailable"] == "False"
    assert conditions(held)["Available"] == "False"
    assert workload_client(management).list_node().items == []
    management.simulation.enable("capi-workers")
    wait_available(management)


def test_paused_clusters_are_left_alone(management: EmulatedCluster) -> None:
    management.create(capi_cluster("paused", paused=True))
    management.create(capi_cluster("marker"))
    wait_available(management, "marker")
    paused = management.get("cluster.x-k8s.io/v1beta2", "Cluster", "paused", "default")
    assert "status" not in paused and "finalizers" not in paused["metadata"]
    management.patch(
        "cluster.x-k8s.io/v1beta2",
        "Cluster",
        "paused",
        {"spec": {"paused": False}},
        namespace="default",
    )
    wait_available(management, "paused")


def test_v1beta1_clusters_are_provisioned_too(management: EmulatedCluster) -> None:
    management.apply(capi_cluster("legacy", version="v1beta1"), field_manager="crossplane")
    legacy = management.wait_for(
        "cluster.x-k8s.io/v1beta1",
        "Cluster",
        "legacy",
        "default",
        until=lambda c: conditions(c).get("Ready") == "True",
    )
    assert legacy["status"]["controlPlaneReady"] is True


def test_deleting_a_cluster_takes_its_workload_cluster_offline(
    fleet: Fleet, management: EmulatedCluster
) -> None:
    management.create(capi_cluster())
    wait_available(management)
    workload = workload_client(management)
    workload.api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    management.delete("cluster.x-k8s.io/v1beta2", "Cluster", "gpu-1", "default")
    management.wait_gone("cluster.x-k8s.io/v1beta2", "Cluster", "gpu-1", "default")
    assert management.find("v1", "Secret", "gpu-1-kubeconfig", "default") is None
    assert not fleet[workload_cluster_name("mgmt", "default", "gpu-1")].online
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        workload.list_node()
