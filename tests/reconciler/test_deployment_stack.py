"""The serving stack of a placed model, on the emulator, when it cannot be installed.

Another bundle already manages an object of the vLLM stack on the cluster (a Service of the
same name, written by hand through an add-on of its own): the stack bundle the placement
controller writes fails with the conflict, the model is not counted as served, and the
deployment says why in its Serving condition, a Warning event and a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.reconciler.harness import CAPI, NAMESPACE, addon_phases, bundle, eventually, running
from tests.reconciler.placement_harness import (
    OFFLINE,
    add_cluster,
    deployment,
    placed_on,
    wait_deployment,
)
from tests.reconciler.triggers_harness import events_of

SQUATTER = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: vllm-stack-router-service\n"
    "spec:\n  ports: [{port: 80}]\n"
)


def serving(obj: dict[str, object]) -> dict[str, str]:
    """The deployment's Serving condition."""
    conditions = (obj.get("status") or {}).get("conditions") or []  # type: ignore[attr-defined]
    return next((c for c in conditions if c["type"] == "Serving"), {})


async def test_a_serving_stack_that_fails_keeps_the_model_from_serving_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        ref = {"apiVersion": CAPI, "kind": "Cluster", "name": "eu-h100"}
        addon = {"name": "squatter", "namespace": "vllm", "manifests": SQUATTER}
        h.mgmt.create(bundle("squatter", [addon], clusterRef=ref))
        await eventually(
            lambda: addon_phases(h.bundle("squatter")).get("squatter") in ("Applied", "Healthy"),
            within=20,
            what="the hand-made Service applied",
        )

        with caplog.at_level(logging.WARNING, logger="function.reconciler.deployments"):
            h.mgmt.create(deployment("llama-8b", "8B", precision="fp8"))
            failed = await wait_deployment(
                h, "llama-8b", lambda d: serving(d).get("reason") == "AddonFailed", within=30
            )
        assert placed_on(failed) == [f"{NAMESPACE}/eu-h100"]
        assert failed["status"]["phase"] == "Placing"
        stack = f"{NAMESPACE}/eu-h100-vllm-serving"
        why = (
            f"0 of 1 cluster(s) serving; {NAMESPACE}/eu-h100: AddonBundle {stack}: vllm-stack "
            f"Failed: conflict: Service vllm/vllm-stack-router-service is managed by AddonBundle "
            f"{NAMESPACE}/squatter (tier 100)"
        )
        assert (serving(failed)["status"], serving(failed)["message"]) == ("False", why)
        warned = [
            (e["type"], e["message"])
            for e in events_of(h, "AddonFailed")
            if e["involvedObject"]["kind"] == "AIModelDeployment"
        ]
        assert warned == [("Warning", why)]
        assert any(why in r.getMessage() for r in caplog.records)
        assert "endpoint" not in failed["status"]
