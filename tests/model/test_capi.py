"""The one reading of Cluster API `Cluster` status that the function and the reconciler share."""

from typing import Any

import pytest

from function.model.capi import CapiClusterStatus, read_cluster_status


def cond(kind: str, status: str = "True", **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, **extra}


def read(status: dict[str, Any], version: str = "v1beta2", **metadata: Any) -> CapiClusterStatus:
    return read_cluster_status(
        {
            "apiVersion": f"cluster.x-k8s.io/{version}",
            "kind": "Cluster",
            "metadata": {"name": "c", "namespace": "t", **metadata},
            "status": status,
        }
    )


def test_v1beta2_available_is_not_overridden_by_the_deprecated_ready() -> None:
    status = read(
        {
            "initialization": {"controlPlaneInitialized": True},
            "conditions": [cond("Available", "False", message="workers not available")],
            "deprecated": {"v1beta1": {"conditions": [cond("Ready")]}},
        }
    )
    assert (status.available, status.workers_available) == (False, False)
    assert status.message == "workers not available"


def test_cluster_api_1_10_reports_available_beside_the_old_ready() -> None:
    status = read(
        {
            "conditions": [cond("Ready")],
            "v1beta2": {"conditions": [cond("Available", "False", reason="RemoteConnection")]},
        },
        version="v1beta1",
    )
    assert not status.available
    assert status.message == "RemoteConnection"


@pytest.mark.parametrize(
    ("status", "version"),
    [
        ({"conditions": [cond("Available")]}, "v1beta2"),
        ({"v1beta2": {"conditions": [cond("Available")]}}, "v1beta1"),
        ({"conditions": [cond("Ready")]}, "v1beta1"),
    ],
    ids=["v1beta2", "v1beta1.10", "v1beta1"],
)
def test_available_in_every_version(status: dict[str, Any], version: str) -> None:
    reading = read(status, version)
    assert reading.available and reading.workers_available
    assert reading.message == ""


def test_workers_may_be_available_before_the_cluster_is() -> None:
    status = read({"conditions": [cond("WorkersAvailable"), cond("Available", "Unknown")]})
    assert (status.workers_available, status.available) == (True, False)


def test_phase_alone_decides_nothing() -> None:
    status = read({"phase": "Provisioned"})
    assert status.phase == "Provisioned"
    assert not (status.control_plane_initialized or status.workers_available or status.available)


def test_failure_in_either_version_names_its_reason() -> None:
    v1beta1 = read({"phase": "Failed", "failureMessage": "no flavor"}, version="v1beta1")
    deprecated = read(
        {"deprecated": {"v1beta1": {"failureReason": "Create", "failureMessage": "quota"}}}
    )
    assert (v1beta1.failed, v1beta1.message) == (True, "no flavor")
    assert (deprecated.failed, deprecated.message) == (True, "quota")


def test_paused_and_deleting() -> None:
    assert read({}, annotations={"cluster.x-k8s.io/paused": ""}).paused
    assert read({}, deletionTimestamp="2026-01-01T00:00:00Z").deleting
    assert read_cluster_status({"spec": {"paused": True}}).paused
    assert read_cluster_status({}) == CapiClusterStatus()
