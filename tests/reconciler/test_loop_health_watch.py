"""Health judged from the drift watches: a waiting add-on is looked at again without a read.

In ``ContinuousWithDriftDetection`` mode the applied kinds are watched; a waiting add-on's
objects are judged from the watches' copies once they are synced, so its revisits list nothing,
and a status change seen by the watch moves the add-on on.
"""

import asyncio
from pathlib import Path

from function.testing.simulation import RULE_NAMES
from tests.reconciler.harness import (
    Harness,
    addon_phases,
    bundle,
    capi_cluster,
    eventually,
    is_ready,
    running,
)

NO_DEPLOYMENTS = frozenset(RULE_NAMES) - {"deployment-available"}
"""Every controller simulated but the one that makes Deployments available."""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: server}
spec:
  replicas: 2
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec: {containers: [{name: server, image: "registry.example/server:{{ version }}"}]}
"""


def server(version: str) -> dict[str, object]:
    return {
        "name": "server",
        "namespace": "apps",
        "manifests": DEPLOYMENT.replace("{{ version }}", version),
    }


def after() -> dict[str, object]:
    manifests = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\ndata: {a: b}\n"
    return {"name": "after", "namespace": "apps", "dependsOn": ["server"], "manifests": manifests}


def target_reconciles(h: Harness) -> float:
    assert h.app is not None
    registry = h.app.metrics.registry
    return sum(
        registry.get_sample_value("aifleet_reconcile_total", {"key": "target", "result": r}) or 0.0
        for r in ("success", "retry", "error")
    )


def make_available(h: Harness) -> None:
    workload = h.workload("c1")
    deployment = workload.get("apps/v1", "Deployment", "server", "apps")
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    workload.patch(
        "apps/v1",
        "Deployment",
        "server",
        {"status": status},
        namespace="apps",
        subresource="status",
        field_manager="kube-controller-manager",
    )


async def test_a_waiting_addon_is_judged_from_the_watch_and_moves_on_when_it_is_healthy(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, simulation=NO_DEPLOYMENTS) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        drifting = bundle("stack", [server("1"), after()], syncMode="ContinuousWithDriftDetection")
        h.mgmt.apply(drifting, field_manager="test")
        got = await h.wait_bundle("stack", lambda b: addon_phases(b).get("server") == "Waiting")
        assert got["status"]["clusters"][0]["addons"][0]["message"] == (
            "Deployment apps/server: 0/2 replicas available"
        )
        workload = h.workload("c1")
        await eventually(
            lambda: workload.requests.count(verb="watch", kind="Deployment") > 0,
            within=5,
            what="a watch of Deployments",
        )
        await asyncio.sleep(0.3)  # the watch's first list is done
        listed = workload.requests.mark()
        revisits = target_reconciles(h)
        await asyncio.sleep(0.5)
        assert target_reconciles(h) >= revisits + 3  # it was looked at again, and again
        assert addon_phases(h.bundle("stack")) == {"server": "Waiting", "after": "Pending"}

        make_available(h)
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"server": "Healthy", "after": "Healthy"}
        lists = workload.requests.filter(since=listed, verb="list", kind="Deployment")
        assert lists == []  # every look came from the watch


async def test_a_changed_deployment_waits_for_its_new_rollout_not_its_old_status(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, simulation=NO_DEPLOYMENTS) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        drifting = bundle("stack", [server("1"), after()], syncMode="ContinuousWithDriftDetection")
        h.mgmt.apply(drifting, field_manager="test")
        await h.wait_bundle("stack", lambda b: addon_phases(b).get("server") == "Waiting")
        make_available(h)
        await h.wait_bundle("stack", is_ready)

        changed = bundle("stack", [server("2"), after()], syncMode="ContinuousWithDriftDetection")
        h.mgmt.apply(changed, field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: b["status"].get("observedGeneration") == 2, within=10
        )
        await asyncio.sleep(0.5)  # revisits, with the watch's copies of the old rollout about
        got = h.bundle("stack")
        assert addon_phases(got)["server"] == "Waiting"
        assert got["status"]["clusters"][0]["addons"][0]["message"] == (
            "Deployment apps/server: rollout not yet observed"
        )
        make_available(h)
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"server": "Healthy", "after": "Healthy"}
