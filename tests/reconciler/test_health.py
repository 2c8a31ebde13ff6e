"""Built-in health checks per kind, and when a drift watch's copy may be judged instead."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from function.model.bundle import AddonSpec, Health
from function.model.bundlestatus import AddonPhase, AddonStatus
from function.model.health import HealthStatus
from function.reconciler.driftwatch import fingerprint, kept_health
from function.reconciler.gate import HealthGate
from function.reconciler.hashing import HASH_ANNOTATION
from function.reconciler.health import builtin_health
from function.reconciler.memory import Remembered


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


def _applied(generation: int, hash_: str, available: int) -> dict[str, Any]:
    d = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2},
        {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": available},
        generation=generation,
    )
    d["metadata"]["annotations"] = {HASH_ANNOTATION: hash_}
    return d


async def test_a_watch_copy_stands_for_a_read_only_when_it_is_of_the_object_as_applied() -> None:
    addon = AddonSpec.model_validate({"name": "app", "manifests": "{}"})
    record = Remembered()
    with ThreadPoolExecutor(1) as pool:
        gate = HealthGate(pool, 5.0)
        base = AddonStatus(name="app", phase=AddonPhase.WAITING)
        applied = _applied(2, "h2", 0)  # a new rollout: not observed yet
        step = await gate.judge(record, addon, base, [applied])
        assert step.status.phase is AddonPhase.WAITING
        before = fingerprint(_applied(1, "h1", 2))  # the watch has not seen the apply yet
        assert kept_health(before).healthy
        assert gate.watched(record, addon, [before]) is None  # so it is read
        assert gate.watched(record, addon, []) is None  # nor an object it has not seen
        now = fingerprint(applied)
        assert gate.watched(record, addon, [now]) == [now]
        assert kept_health(now).message == "Deployment n/x: rollout not yet observed"
        lua = addon.model_copy(update={"health": Health(lua="function evaluate() end")})
        assert gate.watched(record, lua, [now]) is None  # a Lua rule reads whole objects
        gate.settled(record, "app")
        assert gate.watched(record, addon, [now]) is None  # not waiting: nothing to stand for
