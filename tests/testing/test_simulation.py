"""Controller simulation rules: statuses appear as controllers would write them, and can wait."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from function.testing import EmulatedCluster, Fleet, install_gpu_operator_crds

from .conftest import deployment


@pytest.fixture
def simulated() -> Iterator[EmulatedCluster]:
    with Fleet(simulation_delay=0.005) as fleet:
        yield fleet.add_cluster("simulated")


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = obj.get("status") or {}
    return status


def condition(obj: dict[str, Any], type_: str) -> str | None:
    for entry in status_of(obj).get("conditions") or []:
        if entry["type"] == type_:
            return str(entry["status"])
    return None


def crd(group: str, kind: str, plural: str, scope: str = "Namespaced") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "scope": scope,
            "versions": [
                {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}
            ],
        },
    }


def test_deployment_becomes_available(simulated: EmulatedCluster) -> None:
    apps = client.AppsV1Api(simulated.api_client())
    apps.create_namespaced_deployment("default", deployment("web", replicas=3))
    ready = simulated.wait_for(
        "apps/v1",
        "Deployment",
        "web",
        "default",
        until=lambda d: status_of(d).get("availableReplicas") == 3,
    )
    assert condition(ready, "Available") == "True"
    assert status_of(ready)["observedGeneration"] == ready["metadata"]["generation"]
    typed = apps.read_namespaced_deployment_status("web", "default")
    assert typed.status.ready_replicas == 3
    write = simulated.writes.filter(kind="Deployment", field_manager="kube-controller-manager")
    assert [w.subresource for w in write] == ["status"]
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    simulated.wait_for(
        "apps/v1",
        "Deployment",
        "web",
        "default",
        until=lambda d: (
            status_of(d).get("readyReplicas") == 1 and status_of(d)["observedGeneration"] == 2
        ),
    )


def test_a_disabled_rule_leaves_objects_waiting(simulated: EmulatedCluster) -> None:
    simulated.simulation.disable("deployment-available")
    simulated.create(deployment("held"))
    statefulset = deployment("marker")
    statefulset["kind"] = "StatefulSet"
    simulated.create(statefulset)
    simulated.wait_for(
        "apps/v1", "StatefulSet", "marker", "default", until=lambda s: bool(status_of(s))
    )
    assert "status" not in simulated.get("apps/v1", "Deployment", "held", "default")
    simulated.simulation.enable("deployment-available")
    simulated.wait_for(
        "apps/v1",
        "Deployment",
        "held",
        "default",
        until=lambda d: condition(d, "Available") == "True",
    )


def test_statefulset_becomes_ready(simulated: EmulatedCluster) -> None:
    statefulset = deployment("db", replicas=2)
    statefulset["kind"] = "StatefulSet"
    simulated.create(statefulset)
    ready = simulated.wait_for(
        "apps/v1",
        "StatefulSet",
        "db",
        "default",
        until=lambda s: status_of(s).get("readyReplicas") == 2,
    )
    assert status_of(ready)["currentRevision"] == status_of(ready)["updateRevision"]


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def test_daemonset_is_ready_on_matching_nodes(simulated: EmulatedCluster) -> None:
    daemonset = deployment("agent")
    daemonset["kind"] = "DaemonSet"
    del daemonset["spec"]["replicas"]
    simulated.create(daemonset)
    simulated.wait_for(
        "apps/v1",
        "DaemonSet",
        "agent",
        "default",
        until=lambda d: status_of(d).get("numberReady") == 1,
    )  # no nodes at all
    gpu_only = deployment("gpu-agent")
    gpu_only["kind"] = "DaemonSet"
    gpu_only["spec"]["template"]["spec"]["nodeSelector"] = {"gpu": "true"}
    simulated.create(gpu_only)
    for name, labels in (("n1", {"gpu": "true"}), ("n2", {"gpu": "true"}), ("n3", {})):
        simulated.create(node(name, **labels))
    simulated.wait_for(
        "apps/v1",
        "DaemonSet",
        "gpu-agent",
        "default",
        until=lambda d: status_of(d).get("desiredNumberScheduled") == 2,
    )
    simulated.wait_for(
        "apps/v1",
        "DaemonSet",
        "agent",
        "default",
        until=lambda d: status_of(d).get("numberReady") == 3,
    )


def test_job_completes_unless_suspended(simulated: EmulatedCluster) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train"},
        "spec": {"completions": 2, "template": {"spec": {"containers": []}}},
    }
    simulated.create(job)
    done = simulated.wait_for(
        "batch/v1", "Job", "train", "default", until=lambda j: condition(j, "Complete") == "True"
    )
    assert status_of(done)["succeeded"] == 2
    assert condition(done, "SuccessCriteriaMet") == "True"
    typed = client.BatchV1Api(simulated.api_client()).read_namespaced_job("train", "default")
    assert typed.status.completion_time is not None


def test_crd_becomes_established(simulated: EmulatedCluster) -> None:
    extensions = client.ApiextensionsV1Api(simulated.api_client())
    extensions.create_custom_resource_definition(crd("example.com", "Gadget", "gadgets"))
    simulated.wait_for(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "gadgets.example.com",
        until=lambda c: condition(c, "Established") == "True",
    )
    read = extensions.read_custom_resource_definition("gadgets.example.com")
    assert read.status.accepted_names.kind == "Gadget"
    assert read.status.stored_versions == ["v1"]


def test_cluster_policy_becomes_ready(simulated: EmulatedCluster) -> None:
    install_gpu_operator_crds(simulated)
    simulated.create(
        {
            "apiVersion": "nvidia.com/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "cluster-policy"},
            "spec": {},
        }
    )
    ready = simulated.wait_for(
        "nvidia.com/v1",
        "ClusterPolicy",
        "cluster-policy",
        until=lambda p: status_of(p).get("state") == "ready",
    )
    assert condition(ready, "Ready") == "True"


def test_managed_resources_become_ready_and_synced(simulated: EmulatedCluster) -> None:
    simulated.create(crd("s3.aws.upbound.io", "Bucket", "buckets", scope="Cluster"))
    simulated.create(
        {
            "apiVersion": "s3.aws.upbound.io/v1",
            "kind": "Bucket",
            "metadata": {"name": "models"},
            "spec": {"forProvider": {"region": "eu"}},
        }
    )
    ready = simulated.wait_for(
        "s3.aws.upbound.io/v1", "Bucket", "models", until=lambda b: condition(b, "Synced") == "True"
    )
    assert condition(ready, "Ready") == "True"


def test_other_custom_resources_become_ready_except_excluded_groups(
    simulated: EmulatedCluster,
) -> None:
    simulated.create(crd("serving.kserve.io", "InferenceService", "inferenceservices"))
    simulated.create(crd("addons.aifleet.io", "AddonBundle", "addonbundles"))
    simulated.create(
        {
            "apiVersion": "addons.aifleet.io/v1",
            "kind": "AddonBundle",
            "metadata": {"name": "bundle"},
            "spec": {},
        }
    )
    simulated.create(
        {
            "apiVersion": "serving.kserve.io/v1",
            "kind": "InferenceService",
            "metadata": {"name": "llama"},
            "spec": {},
        }
    )
    simulated.wait_for(
        "serving.kserve.io/v1",
        "InferenceService",
        "llama",
        "default",
        until=lambda s: condition(s, "Ready") == "True",
    )
    assert "status" not in simulated.get("addons.aifleet.io/v1", "AddonBundle", "bundle", "default")


def test_settings_are_per_cluster_and_validated() -> None:
    with Fleet(simulation={"job-complete"}, simulation_delay=0.2) as fleet:
        only_jobs = fleet.add_cluster("jobs")
        everything = fleet.add_cluster("all", simulation=True)
        rules = only_jobs.simulation.rules
        assert rules["job-complete"].enabled and not rules["deployment-available"].enabled
        assert rules["job-complete"].delay == 0.2
        assert everything.simulation.is_enabled("deployment-available")
        everything.simulation.set_delay(0.001, "deployment-available")
        assert everything.simulation.rules["deployment-available"].delay == 0.001
        with pytest.raises(KeyError, match="no simulation rule 'nope'"):
            only_jobs.simulation.disable("nope")


def test_paused_rules_resume_after_the_block(simulated: EmulatedCluster) -> None:
    with simulated.simulation.paused("job-complete"):
        assert not simulated.simulation.is_enabled("job-complete")
        simulated.create(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "later"},
                "spec": {"template": {"spec": {"containers": []}}},
            }
        )
    simulated.wait_for(
        "batch/v1", "Job", "later", "default", until=lambda j: condition(j, "Complete") == "True"
    )
