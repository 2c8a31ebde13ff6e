"""Simulated workload controllers: Deployments, StatefulSets, DaemonSets and Jobs.

What kube-controller-manager (and the kubelets behind it) would eventually publish when every
pod starts: a Deployment or StatefulSet with all `spec.replicas` ready and available, a
DaemonSet ready on every Node its `nodeSelector` matches (on one node when the cluster has no
Node objects at all, so bare clusters still converge), a Job complete with `succeeded` equal to
its completions. No pods are created; only statuses move. Field manager:
`kube-controller-manager`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from function.testing.objects import now
from function.testing.resources import ResourceType
from function.testing.selectors import LabelSelector, Requirement
from function.testing.simulation.conditions import KindRule, set_condition
from function.testing.simulation.engine import objects_of
from function.testing.store import Event, ObjectRef

if TYPE_CHECKING:
    from function.testing.apiserver import ApiServer

CONTROLLER_MANAGER = "kube-controller-manager"


def _revision(obj: dict[str, Any]) -> str:
    """``<name>-<hash of the pod template>``: the current ReplicaSet of a Deployment, the
    current revision of a StatefulSet."""
    template = (obj.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return f"{obj['metadata']['name']}-{digest[:10]}"


def _counts(**counts: int) -> dict[str, int]:
    """Replica counts as Go serialises them: zeros are omitted."""
    return {k: v for k, v in counts.items() if v}


def _replicas(obj: dict[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def _generation(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("generation", 1))


class DeploymentAvailable(KindRule):
    """Deployments become Available with every replica ready."""

    name = "deployment-available"
    group = "apps"
    kind = "Deployment"
    manager = CONTROLLER_MANAGER

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """All replicas updated, ready and available; Available and Progressing true."""
        replicas = _replicas(obj)
        current = obj.get("status") or {}
        replica_set = _revision(obj)
        conditions = set_condition(
            current.get("conditions"),
            "Available",
            True,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
        conditions = set_condition(
            conditions,
            "Progressing",
            True,
            "NewReplicaSetAvailable",
            f'ReplicaSet "{replica_set}" has successfully progressed.',
        )
        return {
            "observedGeneration": _generation(obj),
            **_counts(
                replicas=replicas,
                updatedReplicas=replicas,
                readyReplicas=replicas,
                availableReplicas=replicas,
            ),
            "conditions": conditions,
        }


class StatefulSetReady(KindRule):
    """StatefulSets roll out with every replica ready."""

    name = "statefulset-ready"
    group = "apps"
    kind = "StatefulSet"
    manager = CONTROLLER_MANAGER

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """All replicas current, updated, ready and available at one revision."""
        replicas = _replicas(obj)
        revision = _revision(obj)
        return {
            "observedGeneration": _generation(obj),
            **_counts(
                replicas=replicas,
                readyReplicas=replicas,
                currentReplicas=replicas,
                updatedReplicas=replicas,
                availableReplicas=replicas,
            ),
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }


class DaemonSetReady(KindRule):
    """DaemonSets are ready on every Node their node selector matches."""

    name = "daemonset-ready"
    group = "apps"
    kind = "DaemonSet"
    manager = CONTROLLER_MANAGER

    def targets(
        self, api: ApiServer, resource_type: ResourceType, event: Event
    ) -> Iterable[ObjectRef]:
        """The DaemonSet written, or every DaemonSet when a Node changes."""
        if resource_type.group == "" and resource_type.kind == "Node":
            return list(self.resync(api))
        return super().targets(api, resource_type, event)

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """Scheduled, ready and available on every matching node."""
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        selector = LabelSelector(
            tuple(
                Requirement(k, "=", frozenset([str(v)]))
                for k, v in (pod_spec.get("nodeSelector") or {}).items()
            )
        )
        nodes = objects_of(api, "", "Node")
        desired = sum(1 for _, node in nodes if selector.matches(node.labels)) if nodes else 1
        return {
            "observedGeneration": _generation(obj),
            "currentNumberScheduled": desired,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": desired,
            **_counts(numberAvailable=desired, updatedNumberScheduled=desired),
        }


class JobComplete(KindRule):
    """Jobs complete successfully (suspended Jobs wait)."""

    name = "job-complete"
    group = "batch"
    kind = "Job"
    manager = CONTROLLER_MANAGER

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Succeeded with every completion; SuccessCriteriaMet and Complete true."""
        spec = obj.get("spec") or {}
        current = obj.get("status") or {}
        if spec.get("suspend") or current.get("completionTime"):
            return None
        finished = now()
        message = "Reached expected number of succeeded pods"
        conditions = set_condition(
            current.get("conditions"), "SuccessCriteriaMet", True, "CompletionsReached", message
        )
        conditions = set_condition(conditions, "Complete", True, "CompletionsReached", message)
        return {
            "conditions": conditions,
            "startTime": current.get("startTime", finished),
            "completionTime": finished,
            "succeeded": int(spec.get("completions", 1)),
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }


def workload_rules() -> list[KindRule]:
    """The workload rules, in a fixed order."""
    return [DeploymentAvailable(), StatefulSetReady(), DaemonSetReady(), JobComplete()]
