"""A deployment's life on the emulator: provisioned for, expired, reclaimed, moved, kept.

A model that fits nowhere with ``onNoCapacity: Provision`` gets an AIInferenceCluster, which
the function composes (Crossplane's part is played by `crossplane`) into a Cluster API
Cluster and its GPU operator bundle; the model lands there once the cluster's GPUs are
allocatable. Its ``ttl`` running out (the reconciler's clock is moved forward) withdraws the
model and deletes the cluster it provisioned, and only that one; ``idleAfter`` counts from the
last traffic signal. A placed model moves only when its cluster is lost, not when a better one
appears.
"""

from __future__ import annotations

from pathlib import Path

from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    Harness,
    addon_phases,
    eventually,
    running,
)
from tests.reconciler.placement_harness import (
    OFFLINE,
    XR_API,
    Clock,
    add_cluster,
    crossplane,
    deployment,
    phase,
    placed_on,
    reasons,
    wait_deployment,
)
from tests.reconciler.triggers_harness import events_of

PROVISION = {
    "capi": {"infrastructure": "docker"},
    "region": "eu-west-1",
    "gpuProduct": "H100-80GB",
}


def bundles(h: Harness) -> list[str]:
    """Names of the AddonBundles of the namespace."""
    return sorted(b["metadata"]["name"] for b in h.mgmt.list(BUNDLE_API, "AddonBundle", NAMESPACE))


async def test_a_model_that_fits_nowhere_provisions_a_cluster_lands_there_and_reclaims_it(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with running(tmp_path, placement=OFFLINE, clock=clock) as h:
        await add_cluster(h, "edge-l4", "eu-central-1", "NVIDIA-L4", 1)
        # Someone else's inference cluster: reclaiming must leave it alone.
        h.mgmt.create(
            {
                "apiVersion": XR_API,
                "kind": "AIInferenceCluster",
                "metadata": {"name": "team-chat", "namespace": NAMESPACE},
                "spec": {"provider": "capi", "capi": {"infrastructure": "docker"}},
            }
        )
        h.mgmt.create(
            deployment(
                "llama-70b", "70B", onNoCapacity="Provision", provision=PROVISION,
                reclaimProvisioned=True, ttl="2h",
            )
        )  # fmt: skip
        waiting = await wait_deployment(h, "llama-70b", lambda d: phase(d) == "Provisioning")
        assert waiting["status"]["provisioned"] == f"{NAMESPACE}/llama-70b-capacity"
        assert placed_on(waiting) == []
        assert reasons(waiting)[f"{NAMESPACE}/edge-l4"] == (
            "needs 8 L4 GPUs on one node, largest node has 1"
        )
        xr = h.mgmt.get(XR_API, "AIInferenceCluster", "llama-70b-capacity", NAMESPACE)
        assert xr["spec"]["gpu"] == {"product": "H100-80GB", "minNodes": 1, "maxNodes": 1}
        assert xr["spec"]["region"] == "eu-west-1"
        assert xr["metadata"]["labels"]["aifleet.io/model-deployment"] == "llama-70b"
        messages = sorted(e["message"] for e in events_of(h, "Provisioning"))
        assert messages == [
            "Provisioning: no cluster of the 1 seen can hold a replica (146.2 GiB)",
            "no cluster of the 1 seen can hold a replica (146.2 GiB); provisioning "
            "AIInferenceCluster team-a/llama-70b-capacity in eu-west-1 with 1 H100-80GB node(s)",
        ]

        async with crossplane(h) as composed:
            served = await wait_deployment(
                h, "llama-70b", lambda d: phase(d) == "Serving", within=60
            )
            assert "llama-70b-capacity" in composed
        assert placed_on(served) == [f"{NAMESPACE}/llama-70b-capacity"]
        assert served["status"]["gpusHeld"] == 4
        assert served["status"]["provisioned"] == f"{NAMESPACE}/llama-70b-capacity"
        placement = h.bundle("llama-70b-on-llama-70b-capacity")
        assert addon_phases(placement)["model-llama-70b"] == "Healthy"
        assert h.workload_or_none("llama-70b-capacity") is not None

        # Two hours later the ttl has run out: the model goes, and so does its cluster.
        clock.advance(2 * 3600 + 1)
        h.app.deployments.resync()  # type: ignore[union-attr]
        expired = await wait_deployment(h, "llama-70b", lambda d: phase(d) == "Expired")
        assert expired["status"]["message"].startswith("expired at ")
        assert (
            "(ttl 2h): model withdrawn; team-a/llama-70b-capacity reclaimed"
            in (expired["status"]["message"])
        )
        assert expired["status"].get("placements", []) == []
        await eventually(
            lambda: (
                h.mgmt.find(XR_API, "AIInferenceCluster", "llama-70b-capacity", NAMESPACE) is None
            ),
            within=10,
            what="the provisioned AIInferenceCluster deleted",
        )
        await eventually(
            lambda: "llama-70b-on-llama-70b-capacity" not in bundles(h),
            within=10,
            what="the placement bundle withdrawn",
        )
        assert h.mgmt.find(XR_API, "AIInferenceCluster", "team-chat", NAMESPACE) is not None
        assert h.mgmt.find("cluster.x-k8s.io/v1beta2", "Cluster", "edge-l4", NAMESPACE)
        await h.settle()
        # Expired stays expired: a later look provisions nothing again.
        h.app.deployments.resync()  # type: ignore[union-attr]
        await h.settle()
        assert h.mgmt.find(XR_API, "AIInferenceCluster", "llama-70b-capacity", NAMESPACE) is None
        provisioned = [e for e in events_of(h, "Provisioning") if "provisioning" in e["message"]]
        assert len(provisioned) == 1


async def test_idle_after_counts_from_the_last_traffic_signal(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, placement=OFFLINE, clock=clock) as h:
        await add_cluster(h, "eu-l40s", "eu-west-1", "NVIDIA-L40S", 4)
        h.mgmt.create(deployment("llama-8b", "8B", idleAfter="10m"))
        served = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(served) == [f"{NAMESPACE}/eu-l40s"]

        clock.advance(6 * 60)  # traffic six minutes in
        h.mgmt.patch(
            XR_API, "AIModelDeployment", "llama-8b",
            {"metadata": {"annotations": {"aifleet.io/last-traffic": clock()}}},
            namespace=NAMESPACE,
        )  # fmt: skip
        await h.settle()
        clock.advance(6 * 60)  # twelve minutes since creation, six since traffic
        h.app.deployments.resync()  # type: ignore[union-attr]
        await h.settle()
        still = h.mgmt.get(XR_API, "AIModelDeployment", "llama-8b", NAMESPACE)
        assert phase(still) == "Serving"
        assert "llama-8b-on-eu-l40s" in bundles(h)

        clock.advance(5 * 60)  # eleven minutes without traffic
        h.app.deployments.resync()  # type: ignore[union-attr]
        expired = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Expired")
        assert "(idleAfter 10m without traffic): model withdrawn" in expired["status"]["message"]
        await eventually(
            lambda: "llama-8b-on-eu-l40s" not in bundles(h),
            within=10,
            what="the placement bundle withdrawn",
        )
        # Nothing was provisioned for it, so nothing is reclaimed: the cluster stays.
        assert h.mgmt.find("cluster.x-k8s.io/v1beta2", "Cluster", "eu-l40s", NAMESPACE)
        assert (events_of(h, "Expired") or [{}])[0].get("involvedObject", {}).get("name") == (
            "llama-8b"
        )


async def test_a_placed_model_stays_when_a_better_cluster_appears_and_moves_when_its_own_goes(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, placement=OFFLINE) as h:
        await add_cluster(h, "eu-h100", "eu-west-1", "NVIDIA-H100-80GB-HBM3", 8)
        await add_cluster(h, "us-a100", "us-east-1", "NVIDIA-A100-SXM4-80GB", 8)
        h.mgmt.create(deployment("llama-8b", "8B", preferences={"lowestCost": True}))
        first = await wait_deployment(h, "llama-8b", lambda d: phase(d) == "Serving", within=30)
        assert placed_on(first) == [f"{NAMESPACE}/us-a100"]  # one A100 costs less than an H100

        # A cheaper cluster appears: the model does not move, and the status says why.
        await add_cluster(h, "eu-l40s", "eu-west-1", "NVIDIA-L40S", 4)
        await eventually(
            lambda: "does not move" in reasons(
                h.mgmt.get(XR_API, "AIModelDeployment", "llama-8b", NAMESPACE)
            ).get(f"{NAMESPACE}/eu-l40s", ""),
            within=10,
            what="the new cluster among the candidates",
        )  # fmt: skip
        await h.settle()
        kept = h.mgmt.get(XR_API, "AIModelDeployment", "llama-8b", NAMESPACE)
        assert placed_on(kept) == [f"{NAMESPACE}/us-a100"]
        assert phase(kept) == "Serving"
        why = reasons(kept)
        assert why[f"{NAMESPACE}/us-a100"].startswith("kept: 1 x 1 A100-80GB")
        assert why[f"{NAMESPACE}/eu-l40s"] == (
            "score -1.85 above the kept -3.7, but a placed deployment does not move while its "
            "clusters hold it; score -1.85: $1.85/h per replica, room for 4"
        )
        assert bundles(h) == ["llama-8b-on-us-a100", "us-a100-vllm-serving"]

        # Its cluster is lost: the model moves to the best remaining one, the old bundle goes.
        h.mgmt.delete("cluster.x-k8s.io/v1beta2", "Cluster", "us-a100", NAMESPACE)
        moved = await wait_deployment(
            h, "llama-8b",
            lambda d: placed_on(d) == [f"{NAMESPACE}/eu-l40s"] and phase(d) == "Serving",
            within=30,
        )  # fmt: skip
        assert reasons(moved)[f"{NAMESPACE}/eu-l40s"].endswith("$1.85/h per replica, room for 4")
        assert f"{NAMESPACE}/us-a100" not in reasons(moved)
        await eventually(
            lambda: bundles(h) == ["eu-l40s-vllm-serving", "llama-8b-on-eu-l40s"],
            within=10,
            what="the bundles on the lost cluster withdrawn, its serving stack too",
        )
        assert addon_phases(h.bundle("llama-8b-on-eu-l40s"))["model-llama-8b"] == "Healthy"
