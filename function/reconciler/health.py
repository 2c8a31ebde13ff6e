"""Is an applied object healthy? Pure checks per kind, in the manner of kstatus and Sveltos.

An add-on's dependants start only when every object it applied is healthy. The built-in checks
cover the workload kinds (Deployment, StatefulSet, DaemonSet, Job), CRDs (Established), the GPU
operator's ClusterPolicy (``status.state == ready``) and any object that reports a ``Ready``
condition (KServe InferenceService, Crossplane resources); everything else is healthy once it
exists. `function.model.health.HealthRule` is where user rules plug in: a rule sees the live
objects of one add-on and returns a verdict per object, as Sveltos' Lua ``evaluateHealth`` does
(`function.lua.health.compile_health_rule` makes one from an add-on's ``health.lua``); `judge`
combines a rule with the built-in checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from function.model.health import HEALTHY, HealthRule, HealthStatus, Verdict
from function.model.objects import Object, describe, group_of, meta

Check = Callable[[Object], Verdict]


def builtin_health(obj: Object) -> Verdict:
    """The built-in verdict for one live object."""
    check = _CHECKS.get((group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))))
    if check is not None:
        return check(obj)
    return _ready_condition(obj)


def judge(
    objects: Sequence[Object], *, builtin: bool = True, rule: HealthRule | None = None
) -> list[Verdict]:
    """A verdict for each live object of an add-on: the user rule's where it has an opinion,
    otherwise the built-in check (or healthy, with built-in checks off).

    A rule may raise `function.errors.LuaError`; the add-on has then failed.
    """
    opinions = rule(objects) if rule is not None else {}
    return [
        opinions[i] if i in opinions else builtin_health(obj) if builtin else HEALTHY
        for i, obj in enumerate(objects)
    ]


def _generation_observed(obj: Object) -> bool:
    status: Mapping[str, Any] = obj.get("status") or {}
    generation = meta(obj).get("generation")
    observed = status.get("observedGeneration")
    return generation is None or observed is None or observed >= generation


def _deployment(obj: Object) -> Verdict:
    status: Mapping[str, Any] = obj.get("status") or {}
    want = int((obj.get("spec") or {}).get("replicas", 1))
    if not _generation_observed(obj):
        return _progressing(obj, "rollout not yet observed")
    if _condition(obj, "Progressing", reason="ProgressDeadlineExceeded"):
        return Verdict(HealthStatus.DEGRADED, f"{describe(obj)}: progress deadline exceeded")
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < want or available < want:
        return _progressing(obj, f"{available}/{want} replicas available")
    return HEALTHY


def _statefulset(obj: Object) -> Verdict:
    status: Mapping[str, Any] = obj.get("status") or {}
    want = int((obj.get("spec") or {}).get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    if not _generation_observed(obj) or ready < want:
        return _progressing(obj, f"{ready}/{want} replicas ready")
    return HEALTHY


def _daemonset(obj: Object) -> Verdict:
    status: Mapping[str, Any] = obj.get("status") or {}
    if not _generation_observed(obj) or "desiredNumberScheduled" not in status:
        return _progressing(obj, "rollout not yet observed")
    want = int(status.get("desiredNumberScheduled", 0))
    ready = int(status.get("numberAvailable", status.get("numberReady", 0)))
    updated = int(status.get("updatedNumberScheduled", want))
    if ready < want or updated < want:
        return _progressing(obj, f"{ready}/{want} pods available")
    return HEALTHY


def _job(obj: Object) -> Verdict:
    if _condition(obj, "Complete"):
        return HEALTHY
    if _condition(obj, "Failed"):
        return Verdict(HealthStatus.DEGRADED, f"{describe(obj)}: job failed")
    return _progressing(obj, "job not complete")


def _crd(obj: Object) -> Verdict:
    if _condition(obj, "Established"):
        return HEALTHY
    return _progressing(obj, "not yet established")


def _cluster_policy(obj: Object) -> Verdict:
    state = (obj.get("status") or {}).get("state")
    if state == "ready":
        return HEALTHY
    return _progressing(obj, f"state is {state or 'unset'}, waiting for ready")


def _ready_condition(obj: Object) -> Verdict:
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        if (group_of(str(obj.get("apiVersion", ""))), obj.get("kind")) in _READY_CONDITION_KINDS:
            return _progressing(obj, "no Ready condition yet")
        return HEALTHY
    if ready.get("status") == "True":
        return HEALTHY
    detail = ready.get("message") or ready.get("reason") or "not ready"
    return _progressing(obj, str(detail))


def _condition(obj: Object, kind: str, *, reason: str | None = None) -> bool:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            if reason is not None:
                return bool(c.get("reason") == reason)
            return bool(c.get("status") == "True")
    return False


def _progressing(obj: Object, why: str) -> Verdict:
    return Verdict(HealthStatus.PROGRESSING, f"{describe(obj)}: {why}")


_CHECKS: dict[tuple[str, str], Check] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("nvidia.com", "ClusterPolicy"): _cluster_policy,
}

_READY_CONDITION_KINDS: frozenset[tuple[str, str]] = frozenset(
    {("serving.kserve.io", "InferenceService"), ("serving.kserve.io", "LLMInferenceService")}
)
"""Kinds whose readiness is their Ready condition, which they may not have reported yet."""
