"""Cluster readiness across Cluster API v1beta1, v1beta2 and Crossplane resources."""

from typing import Any

import pytest

from function.model.bundle import ClusterGate
from function.reconciler.readiness import cluster_readiness


def capi(version: str, status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"cluster.x-k8s.io/{version}",
        "kind": "Cluster",
        "metadata": {"name": "c", "namespace": "t", **meta},
        "spec": {},
        "status": status,
    }


def cond(kind: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status}


@pytest.mark.parametrize(
    "cluster",
    [
        capi("v1beta2", {"initialization": {"controlPlaneInitialized": True}}),
        capi("v1beta1", {"controlPlaneReady": True}),
        capi("v1beta1", {"conditions": [cond("ControlPlaneInitialized")]}),
        capi("v1beta1", {"v1beta2": {"conditions": [cond("ControlPlaneInitialized")]}}),
        capi(
            "v1beta2",
            {"deprecated": {"v1beta1": {"conditions": [cond("ControlPlaneInitialized")]}}},
        ),
    ],
    ids=[
        "v1beta2-initialization",
        "v1beta1-field",
        "v1beta1-condition",
        "v1beta1.10-v1beta2-conditions",
        "deprecated",
    ],
)
def test_control_plane_initialized_in_every_place(cluster: dict[str, Any]) -> None:
    r = cluster_readiness(cluster)
    assert r.allows(ClusterGate.CONTROL_PLANE_INITIALIZED)
    assert not r.allows(ClusterGate.WORKERS_AVAILABLE)
    assert r.message == "control plane initialized; waiting for workers"


def test_provisioned_phase_alone_is_not_ready() -> None:
    r = cluster_readiness(capi("v1beta2", {"phase": "Provisioned"}))
    assert not r.control_plane_initialized
    assert r.message == "waiting for the control plane (phase Provisioned)"


def test_workers_and_available() -> None:
    v2 = cluster_readiness(
        capi(
            "v1beta2",
            {
                "initialization": {"controlPlaneInitialized": True},
                "conditions": [cond("WorkersAvailable"), cond("Available", "False")],
            },
        )
    )
    assert v2.workers_available and not v2.available
    v1 = cluster_readiness(
        capi("v1beta1", {"controlPlaneReady": True, "conditions": [cond("Ready")]})
    )
    assert v1.allows(ClusterGate.WORKERS_AVAILABLE) and v1.available


def test_the_deprecated_v1beta1_ready_does_not_override_available() -> None:
    r = cluster_readiness(
        capi(
            "v1beta2",
            {
                "initialization": {"controlPlaneInitialized": True},
                "conditions": [cond("Available", "False")],
                "deprecated": {"v1beta1": {"conditions": [cond("Ready")]}},
            },
        )
    )
    assert not r.available
    assert not r.allows(ClusterGate.WORKERS_AVAILABLE)
    assert r.message == "control plane initialized; waiting for workers"


@pytest.mark.parametrize(
    ("cluster", "why"),
    [
        (
            capi(
                "v1beta2",
                {"initialization": {"controlPlaneInitialized": True}},
                annotations={"cluster.x-k8s.io/paused": ""},
            ),
            "cluster is paused",
        ),
        (
            capi(
                "v1beta2",
                {"initialization": {"controlPlaneInitialized": True}},
                deletionTimestamp="2026-01-01T00:00:00Z",
            ),
            "cluster is being deleted",
        ),
    ],
)
def test_paused_and_deleting_clusters_are_skipped(cluster: dict[str, Any], why: str) -> None:
    r = cluster_readiness(cluster)
    assert r.skip == why
    assert not r.allows(ClusterGate.CONTROL_PLANE_INITIALIZED)


def test_spec_paused_is_skipped() -> None:
    cluster = capi("v1beta1", {"controlPlaneReady": True})
    cluster["spec"]["paused"] = True
    assert cluster_readiness(cluster).skip == "cluster is paused"


def test_crossplane_needs_ready_and_synced() -> None:
    mr = {
        "apiVersion": "eks.aws.m.upbound.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "e"},
        "status": {"conditions": [cond("Ready"), cond("Synced", "False")]},
    }
    assert not cluster_readiness(mr).control_plane_initialized
    mr["status"]["conditions"][1]["status"] = "True"
    r = cluster_readiness(mr)
    assert r.allows(ClusterGate.WORKERS_AVAILABLE) and r.message == "resource is ready"
