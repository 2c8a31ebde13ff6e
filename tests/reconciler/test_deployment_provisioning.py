"""A cluster provisioned for a deployment, on the emulator: slow to come, or no longer needed.

A provisioned cluster whose workers never come up (the simulation's ``capi-workers`` step is
off) keeps the deployment Provisioning; past ``provision.timeout`` the status, a Warning event
and a log line say so with the cluster's own reason, and the controller keeps waiting. With
``reclaimProvisioned: true`` a provisioned cluster is deleted as soon as no placement needs it:
its deployment deleted, or placed whole elsewhere before the cluster was ready.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from function.testing.simulation import RULE_NAMES
from tests.reconciler.harness import NAMESPACE, condition, eventually, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    XR_API,
    XR_KIND,
    Clock,
    add_cluster,
    crossplane,
    deployment,
    phase,
    placed_on,
    wait_deployment,
)
from tests.reconciler.triggers_harness import events_of

PROVISION = {
    "capi": {"infrastructure": "docker"},
    "region": "eu-west-1",
    "gpuProduct": "H100-80GB",
}
NO_WORKERS = frozenset(RULE_NAMES) - {"capi-workers"}
XR_NAME = f"{NAMESPACE}/llama-70b-capacity"
H100 = {"gpuProducts": ["H100-80GB"]}


def provisioned(obj: dict[str, object]) -> dict[str, object]:
    """The deployment's Provisioned condition (empty when absent)."""
    return condition(obj, "Provisioned")  # type: ignore[arg-type]


async def test_a_provisioned_cluster_that_never_gets_ready_times_out_visibly_and_is_waited_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="function.reconciler.deployments")
    clock = Clock()
    async with running(tmp_path, placement=OFFLINE, clock=clock, simulation=NO_WORKERS) as h:
        spec = {"onNoCapacity": "Provision", "provision": {**PROVISION, "timeout": "20m"}}
        h.mgmt.create(deployment("llama-70b", "70B", **spec))
        first = await wait_deployment(h, "llama-70b", lambda d: phase(d) == "Provisioning")
        assert first["status"]["provisioned"] == XR_NAME
        assert provisioned(first)["reason"] == "Provisioning"

        async with crossplane(h):
            # Composed, its control plane comes up; its workers never do.
            stuck = await wait_deployment(
                h, "llama-70b",
                lambda d: "waiting for workers" in str(provisioned(d).get("message")),
                within=30,
            )  # fmt: skip
            message = str(provisioned(stuck)["message"])
            assert message.startswith(f"waiting for AIInferenceCluster {XR_NAME} until ")
            assert message.endswith(
                f": Cluster {XR_NAME}: control plane initialized; waiting for workers"
            )
            assert provisioned(stuck)["status"] == "False"
            assert events_of(h, "ProvisioningTimedOut") == []

            clock.advance(20 * 60 + 1)
            h.app.deployments.resync()  # type: ignore[union-attr]
            late = await wait_deployment(
                h, "llama-70b", lambda d: provisioned(d).get("reason") == "ProvisioningTimedOut"
            )
            said = (
                f"AIInferenceCluster {XR_NAME} does not hold the model 20m after its creation: "
                f"Cluster {XR_NAME}: control plane initialized; waiting for workers; "
                "still waiting for it"
            )
            assert provisioned(late)["message"] == said
            assert late["status"]["message"] == said
            # Still waiting for it: same phase, same cluster, nothing placed, nothing deleted.
            assert phase(late) == "Provisioning"
            assert late["status"]["provisioned"] == XR_NAME
            assert placed_on(late) == []
            assert condition(late, "Placed")["reason"] == "NoCapacity"
            assert h.mgmt.find(XR_API, "AIInferenceCluster", "llama-70b-capacity", NAMESPACE)
            timed_out = events_of(h, "ProvisioningTimedOut")
            assert [(e["type"], e["message"]) for e in timed_out] == [
                ("Warning", f"Provisioning: {said}")
            ]
            assert any(
                r.levelno == logging.WARNING and said in r.getMessage() for r in caplog.records
            )
            # A later look changes nothing and says nothing again.
            h.app.deployments.resync()  # type: ignore[union-attr]
            await h.settle()
            assert len(events_of(h, "ProvisioningTimedOut")) == 1
            creating = [e for e in events_of(h, "Provisioning") if "provisioning" in e["message"]]
            assert len(creating) == 1


async def test_a_provisioned_cluster_no_placement_needs_any_more_is_reclaimed(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        h.mgmt.create(deployment("first", "70B", replicas=2, placement=H100))
        await wait_deployment(h, "first", lambda d: phase(d) == "Serving", within=30)
        # No room left: the second one provisions a cluster of its own (never composed here:
        # no Crossplane runs), and so does the third, which is deleted while it waits.
        spec = {"onNoCapacity": "Provision", "provision": PROVISION, "reclaimProvisioned": True}
        h.mgmt.create(deployment("llama-70b", "70B", replicas=2, placement=H100, **spec))
        h.mgmt.create(deployment("mixtral", "70B", placement=H100, **spec))
        for name in ("llama-70b", "mixtral"):
            waiting = await wait_deployment(h, name, lambda d: phase(d) == "Provisioning")
            assert waiting["status"]["provisioned"] == f"{NAMESPACE}/{name}-capacity"
        assert sorted(x["metadata"]["name"] for x in h.mgmt.list(XR_API, XR_KIND, NAMESPACE)) == [
            "llama-70b-capacity",
            "mixtral-capacity",
        ]

        h.mgmt.delete(XR_API, "AIModelDeployment", "mixtral", NAMESPACE)
        await eventually(
            lambda: h.mgmt.find(XR_API, XR_KIND, "mixtral-capacity", NAMESPACE) is None,
            within=10,
            what="the cluster provisioned for the deleted deployment reclaimed",
        )

        # The first one goes: its GPUs take the second one before its own cluster is ready,
        # so that cluster is needed no more and is deleted.
        h.mgmt.delete(XR_API, "AIModelDeployment", "first", NAMESPACE)
        moved = await wait_deployment(
            h, "llama-70b", lambda d: placed_on(d) == [f"{NAMESPACE}/eu-h100"], within=10
        )
        await eventually(
            lambda: h.mgmt.find(XR_API, XR_KIND, "llama-70b-capacity", NAMESPACE) is None,
            within=10,
            what="the provisioned cluster no placement needs reclaimed",
        )
        assert "provisioned" not in moved["status"]
        assert provisioned(moved) == {}
        assert [e["message"] for e in events_of(h, "Reclaimed")] == [
            f"AIInferenceCluster {XR_NAME} reclaimed: no placement needs it "
            f"(placed 2 of 2 replicas on {NAMESPACE}/eu-h100 (2 x 4 H100-80GB))"
        ]
        served = await wait_deployment(h, "llama-70b", lambda d: phase(d) == "Serving", within=30)
        assert served["status"]["gpusHeld"] == 8
