"""Built-in health checks per kind."""

from typing import Any

from function.model.health import HealthStatus
from function.reconciler.health import builtin_health


def obj(
    api: str,
    kind: str,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "n", "generation": generation},
        "spec": spec or {},
        "status": status or {},
    }


def test_deployment_waits_for_available_replicas_of_the_observed_generation() -> None:
    d = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2},
        {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 1},
    )
    v = builtin_health(d)
    assert (
        v.status is HealthStatus.PROGRESSING
        and v.message == "Deployment n/x: 1/2 replicas available"
    )
    d["status"]["availableReplicas"] = 2
    assert builtin_health(d).healthy
    d["metadata"]["generation"] = 2
    assert not builtin_health(d).healthy


def test_deployment_past_deadline_is_degraded() -> None:
    d = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 1},
        {
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ]
        },
    )
    assert builtin_health(d).status is HealthStatus.DEGRADED


def test_daemonset_needs_every_scheduled_pod_available() -> None:
    ds = obj("apps/v1", "DaemonSet")
    assert not builtin_health(ds).healthy  # controller has not observed it yet
    ds["status"] = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 3,
        "numberAvailable": 2,
        "updatedNumberScheduled": 3,
    }
    assert not builtin_health(ds).healthy
    ds["status"]["numberAvailable"] = 3
    assert builtin_health(ds).healthy


def test_job_crd_and_cluster_policy() -> None:
    assert builtin_health(
        obj("batch/v1", "Job", status={"conditions": [{"type": "Complete", "status": "True"}]})
    ).healthy
    assert (
        builtin_health(
            obj("batch/v1", "Job", status={"conditions": [{"type": "Failed", "status": "True"}]})
        ).status
        is HealthStatus.DEGRADED
    )
    crd = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert not builtin_health(crd).healthy
    crd["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
    assert builtin_health(crd).healthy
    cp = obj("nvidia.com/v1", "ClusterPolicy", status={"state": "notReady"})
    assert builtin_health(cp).message == "ClusterPolicy n/x: state is notReady, waiting for ready"
    cp["status"]["state"] = "ready"
    assert builtin_health(cp).healthy


def test_ready_condition_kinds_and_plain_objects() -> None:
    isvc = obj("serving.kserve.io/v1beta1", "InferenceService")
    assert not builtin_health(isvc).healthy
    isvc["status"] = {
        "conditions": [{"type": "Ready", "status": "False", "message": "predictor not ready"}]
    }
    assert builtin_health(isvc).message == "InferenceService n/x: predictor not ready"
    isvc["status"]["conditions"][0]["status"] = "True"
    assert builtin_health(isvc).healthy
    assert builtin_health(obj("v1", "ConfigMap")).healthy
