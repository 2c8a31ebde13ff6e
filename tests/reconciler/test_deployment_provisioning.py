"""A cluster provisioned for a deployment, on the emulator: slow to come, or no longer needed.

A provisioned cluster whose workers never come up (the simulation's ``capi-workers`` step is
off) keeps the deployment Provisioning; past ``provision.timeout`` the status, a Warning event
and a log line say so with the cluster's own reason, and the controller keeps waiting.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from function.testing.simulation import RULE_NAMES
from tests.reconciler.harness import NAMESPACE, condition, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    XR_API,
    Clock,
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
