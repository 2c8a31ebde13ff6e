"""Reading Cluster API readiness across both API versions, and AddonBundle progress."""

from typing import Any

import pytest

from function.compose.providers.capi import cluster_state
from function.compose.readiness import addons_state


def condition(kind: str, status: str = "True", **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, **extra}


@pytest.mark.parametrize(
    "status",
    [
        {"initialization": {"controlPlaneInitialized": True}},  # v1beta2
        {"controlPlaneReady": True},  # v1beta1
        {"conditions": [condition("ControlPlaneInitialized")]},
        {"v1beta2": {"conditions": [condition("ControlPlaneInitialized")]}},  # CAPI 1.9/1.10
        {"deprecated": {"v1beta1": {"conditions": [condition("ControlPlaneInitialized")]}}},
    ],
)
def test_control_plane_initialized_in_every_shape(status: dict[str, Any]) -> None:
    state = cluster_state({"status": status})
    assert (state.initialized, state.available) == (True, False)


@pytest.mark.parametrize(
    "status",
    [
        {"conditions": [condition("Available")]},  # v1beta2
        {"conditions": [condition("Ready")]},  # v1beta1
    ],
)
def test_available_in_either_version(status: dict[str, Any]) -> None:
    assert cluster_state({"status": status}).available


def test_the_deprecated_v1beta1_ready_does_not_override_available() -> None:
    status = {
        "conditions": [condition("Available", "False", message="workers missing")],
        "deprecated": {"v1beta1": {"conditions": [condition("Ready")]}},
    }
    state = cluster_state({"apiVersion": "cluster.x-k8s.io/v1beta2", "status": status})
    assert (state.available, state.message) == (False, "workers missing")


def test_phase_provisioned_alone_is_not_available() -> None:
    state = cluster_state({"status": {"phase": "Provisioned"}})
    assert (state.observed, state.initialized, state.available) == (True, False, False)


def test_failed_deleting_paused_and_absent() -> None:
    failed = cluster_state({"status": {"phase": "Failed", "failureMessage": "no flavor"}})
    assert (failed.failed, failed.message) == (True, "no flavor")
    assert cluster_state({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}).deleting
    assert cluster_state({"spec": {"paused": True}}).paused
    annotated = {"metadata": {"annotations": {"cluster.x-k8s.io/paused": ""}}}
    assert cluster_state(annotated).paused
    assert not cluster_state(None).observed


def test_unavailable_message_comes_from_the_condition() -> None:
    status = {"conditions": [condition("Available", "False", message="workers missing")]}
    assert cluster_state({"status": status}).message == "workers missing"


def bundle(*addons: tuple[str, str], generation: int = 1, observed: int = 1) -> dict[str, Any]:
    ref = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": "c1"}
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "clusters": [
                {
                    "clusterRef": ref,
                    "addons": [
                        {"name": name, "phase": phase, "message": f"{name} says {phase}"}
                        for name, phase in addons
                    ],
                }
            ],
        },
    }


def test_addon_phases_count_healthy_and_applied_as_ready() -> None:
    state = addons_state(
        bundle(("a", "Healthy"), ("b", "Applied"), ("c", "Waiting"), ("d", "Failed")),
        "c1",
        ["a", "b", "c", "d", "e"],
    )
    assert state.ready == ("a", "b")
    assert state.failed == (("d", "d says Failed"),)
    assert state.pending(["a", "b", "c", "d", "e"]) == ["c", "d", "e"]
    assert not state.all_ready


def test_all_ready_needs_the_latest_generation() -> None:
    names = ["a"]
    assert addons_state(bundle(("a", "Healthy")), "c1", names).all_ready
    stale = addons_state(bundle(("a", "Healthy"), generation=2), "c1", names)
    assert (stale.ready, stale.current, stale.all_ready) == (("a",), False, False)


def test_other_clusters_and_unreadable_status_tell_nothing() -> None:
    assert addons_state(bundle(("a", "Healthy")), "c2", ["a"]).ready == ()
    unreadable = {"status": {"clusters": [{"addons": "not a list"}]}}
    assert addons_state(unreadable, "c1", ["a"]).ready == ()
    assert addons_state(None, "c1", ["a"]).total == 1
