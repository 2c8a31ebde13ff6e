"""The status an AIModelDeployment gets from its decision, its bundles and its clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from function.model.deployment import parse_deployment_spec
from function.placement.decide import Verdict, place
from function.placement.fleetfile import load_fleet
from function.reconciler.deploymentstatus import (
    TRAFFIC_ANNOTATION,
    expired_status,
    expiry,
    live_status,
    model_healthy,
    provision_wait,
    read_status,
    stopped_status,
)

MODEL = {"name": "llama", "parameters": "70B", "source": "hf://org/llama"}
OBJ = {"metadata": {"name": "llama", "namespace": "team", "generation": 3}}
T0, T1 = "2026-01-01T12:00:00Z", "2026-01-01T12:05:00Z"
ENDPOINT = "http://model-llama-llama-engine-service.vllm.svc:80/v1"


def spec(**fields: Any):  # type: ignore[no-untyped-def]
    return parse_deployment_spec({"model": MODEL, **fields})


def decide(replicas: int = 1, gpus: int = 8):  # type: ignore[no-untyped-def]
    fleet, _ = load_fleet(
        {"clusters": [{"name": "team/a", "nodes": [{"product": "H100-80GB", "gpus": gpus}]}]}
    )
    wanted = spec(replicas=replicas)
    return wanted, place("team/llama", wanted, fleet)


def healthy_bundle(phase: str = "Healthy") -> dict[str, Any]:
    addons = [{"name": "vllm-stack", "phase": "Healthy"}, {"name": "model-llama", "phase": phase}]
    return {"status": {"clusters": [{"addons": addons}]}}


def live(decision_of: Any, bundles: dict[str, Any], previous: Any = None, **kw: Any) -> Any:
    wanted, decision = decision_of
    kw.setdefault("provisioned", None)
    kw.setdefault("now", T0)
    kw.setdefault("expires_at", None)
    return live_status(OBJ, wanted, decision, bundles, previous, **kw)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        c["type"]: (c["status"], c["reason"], c["lastTransitionTime"]) for c in status["conditions"]
    }


def test_placed_but_not_healthy_is_placing_without_an_endpoint() -> None:
    status = live(decide(), {"team/a": healthy_bundle("Progressing")})
    assert (status["phase"], status["cluster"], status["gpusHeld"]) == ("Placing", "team/a", 4)
    assert status["observedGeneration"] == 3
    assert "endpoint" not in status and "endpoint" not in status["placements"][0]
    assert conditions(status) == {
        "Placed": ("True", "Placed", T0),
        "Serving": ("False", "NotServing", T0),
    }


def test_healthy_everywhere_is_serving_with_the_endpoint_and_keeps_transition_times() -> None:
    placing = read_status(live(decide(), {"team/a": None}))
    serving = live(decide(), {"team/a": healthy_bundle()}, placing, now=T1)
    assert serving["phase"] == "Serving"
    assert serving["endpoint"] == ENDPOINT
    assert serving["placements"][0]["endpoint"] == ENDPOINT
    assert serving["placements"][0]["ready"] is True
    assert conditions(serving) == {
        "Placed": ("True", "Placed", T0),  # held since T0
        "Serving": ("True", "Healthy", T1),  # turned at T1
    }


def test_too_few_replicas_placed_is_not_serving_even_when_those_are_healthy() -> None:
    status = live(decide(replicas=3), {"team/a": healthy_bundle()})
    assert status["phase"] == "Placing"
    assert status["message"].endswith("; no room for more")


def test_nothing_placed_is_pending_or_provisioning_when_a_cluster_is_being_made() -> None:
    nothing = decide(gpus=2)  # 70B fp16 needs 4 H100s on one node
    pending = live(nothing, {})
    assert pending["phase"] == "Pending"
    assert conditions(pending)["Placed"][:2] == ("False", "NoCapacity")
    assert pending["candidates"] == [
        {"cluster": "team/a", "reason": "needs 4 H100-80GB GPUs on one node, largest node has 2"}
    ]
    provisioning = live(nothing, {}, provisioned="team/llama-capacity", expires_at=T1)
    assert provisioning["phase"] == "Provisioning"
    assert (provisioning["provisioned"], provisioning["expiresAt"]) == ("team/llama-capacity", T1)


def test_expiry_says_what_happened_to_the_provisioned_cluster() -> None:
    previous = read_status(live(decide(), {"team/a": healthy_bundle()}, provisioned="team/c"))
    ends = (datetime(2026, 1, 1, 14, tzinfo=UTC), "ttl 2h")
    gone = expired_status(OBJ, previous, ends, reclaimed=True, now=T1)
    assert gone["phase"] == "Expired"
    assert gone["message"] == (
        "expired at 2026-01-01T14:00:00Z (ttl 2h): model withdrawn; team/c reclaimed"
    )
    assert "provisioned" not in gone and gone["placements"] == [] and gone["gpusHeld"] == 0
    assert conditions(gone)["Serving"] == ("False", "Expired", T1)
    kept = expired_status(OBJ, previous, ends, reclaimed=False, now=T1)
    assert kept["message"].endswith("; team/c kept") and kept["provisioned"] == "team/c"
    plain = expired_status(OBJ, None, ends, reclaimed=False, now=T1)
    assert plain["message"] == "expired at 2026-01-01T14:00:00Z (ttl 2h): model withdrawn"


def test_a_stopped_deployment_keeps_what_it_had_and_says_why() -> None:
    previous = read_status(live(decide(), {"team/a": healthy_bundle()}))
    stopped = stopped_status(OBJ, previous, "InvalidSpec", "spec.replicas: too big", now=T1)
    assert stopped["phase"] == "Serving" and stopped["placements"][0]["cluster"] == "team/a"
    assert stopped["message"] == "spec.replicas: too big"
    assert conditions(stopped) == {
        "Placed": ("False", "InvalidSpec", T1),
        "Serving": ("True", "Healthy", T0),
    }
    fresh = stopped_status(OBJ, None, "InvalidSpec", "bad", now=T1)
    assert fresh["phase"] == "Pending"


def test_unreadable_statuses_read_as_none() -> None:
    assert read_status(None) is None
    assert read_status({"message": "no phase"}) is None
    assert read_status({"phase": "Nonsense"}) is None


def test_the_model_is_healthy_only_when_its_own_addon_is() -> None:
    assert model_healthy(healthy_bundle(), "llama")
    assert not model_healthy(healthy_bundle("Failed"), "llama")
    assert not model_healthy(healthy_bundle(), "mistral")
    assert not model_healthy(None, "llama")


def test_expiry_counts_from_creation_and_the_traffic_annotation() -> None:
    created = {"metadata": {**OBJ["metadata"], "creationTimestamp": T0}}
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert expiry(created, spec()) is None
    assert expiry(created, spec(ttl="1h")) == (t0 + timedelta(hours=1), "ttl 1h")
    busy = {
        "metadata": {
            **created["metadata"],
            "annotations": {TRAFFIC_ANNOTATION: "2026-01-01T13:00:00Z"},
        }
    }
    ends = expiry(busy, spec(idleAfter="15m"))
    assert ends == (t0 + timedelta(hours=1, minutes=15), "idleAfter 15m without traffic")
    naive = {
        "metadata": {
            **created["metadata"],
            "annotations": {TRAFFIC_ANNOTATION: "2026-01-01T13:00:00"},
        }
    }
    assert expiry(naive, spec(idleAfter="15m")) == ends


def test_a_traffic_annotation_that_is_not_a_time_is_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = {"metadata": {"creationTimestamp": T0, "annotations": {TRAFFIC_ANNOTATION: "yesterday"}}}
    with caplog.at_level(logging.WARNING):
        ends = expiry(bad, spec(idleAfter="15m"))
    assert ends == (datetime(2026, 1, 1, 12, 15, tzinfo=UTC), "idleAfter 15m without traffic")
    assert "ignoring aifleet.io/last-traffic='yesterday': not an RFC 3339 time" in caplog.text


def _capi(workers: bool) -> dict[str, Any]:
    conditions = [{"type": "ControlPlaneInitialized", "status": "True"}]
    conditions.append({"type": "WorkersAvailable", "status": "True" if workers else "False"})
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": "llama-capacity", "namespace": "team"},
        "status": {"initialization": {"controlPlaneInitialized": True}, "conditions": conditions},
    }


def test_a_wait_for_the_provisioned_cluster_says_why_and_times_out_from_its_creation() -> None:
    xr = {"metadata": {"name": "llama-capacity", "creationTimestamp": T0}, "status": {}}
    now = datetime(2026, 1, 1, 12, 20, tzinfo=UTC)

    def wait(xr: Any, cluster: Any = None, verdicts: Any = (), at: datetime = now) -> Any:
        return provision_wait("team/llama-capacity", xr, cluster, verdicts, timeout="30m", now=at)

    early = wait(xr)
    assert not early.timed_out and early.deadline == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert early.message == (
        "waiting for AIInferenceCluster team/llama-capacity until 2026-01-01T12:30:00Z: its "
        "Cluster API Cluster is not composed yet (no status from the composition)"
    )
    late = wait(xr, at=now + timedelta(minutes=10))
    assert late.timed_out
    assert late.message.startswith(
        "AIInferenceCluster team/llama-capacity does not hold the model 30m after its creation: "
    )
    assert late.message.endswith("; still waiting for it")
    failing = {
        **xr,
        "status": {
            "phase": "Provisioning",
            "conditions": [
                {"type": "Synced", "status": "False", "reason": "ReconcileError",
                 "message": "cannot compose: quota exceeded"},
                {"type": "Ready", "status": "False", "reason": "Creating"},
            ],
        },
    }  # fmt: skip
    assert wait(failing).cause == (
        "Synced ReconcileError: cannot compose: quota exceeded; "
        "its Cluster API Cluster is not composed yet (phase Provisioning)"
    )
    assert wait(xr, _capi(workers=False)).cause == (
        "Cluster team/llama-capacity: control plane initialized; waiting for workers"
    )
    ready = wait(xr, _capi(workers=True), [Verdict("team/llama-capacity", "no GPU nodes")])
    assert ready.cause == "Cluster team/llama-capacity: no GPU nodes"
    assert wait(None).cause == "the AIInferenceCluster does not exist"
    # Not stored yet (just applied): the wait counts from now.
    assert wait(None).deadline == now + timedelta(minutes=30)
