"""The ledger of GPUs placements hold and owe, and the cluster composed when nothing fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from function.errors import SpecError
from function.model.deployment import AIModelDeploymentStatus, parse_deployment_spec
from function.model.xr import GpuProduct, Runtime
from function.placement.capacity import Reservation
from function.placement.decide import Assignment
from function.placement.ledger import (
    Placed,
    assignments_of,
    deadline,
    endpoint_of,
    ledger,
    stack_provided,
    stack_sources,
)
from function.placement.provision import (
    provision_cluster,
    provision_product,
    provision_region,
    provisioned_name,
)

MODEL = {"name": "llama", "parameters": "70B", "source": "hf://org/llama"}
CAPI = {"capi": {"infrastructure": "docker"}}
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def spec(**fields: Any):  # type: ignore[no-untyped-def]
    return parse_deployment_spec({"model": MODEL, **fields})


def status(*placements: dict[str, Any]) -> AIModelDeploymentStatus:
    return AIModelDeploymentStatus.model_validate(
        {"phase": "Placing", "placements": list(placements)}
    )


H100_ON_A = {
    "cluster": "team/a",
    "replicas": 2,
    "gpuProduct": "H100-80GB",
    "gpusPerReplica": 4,
    "nodes": {"n1": 1, "n2": 1},
}


# --- ledger --------------------------------------------------------------------------------


def test_a_placement_owes_what_its_pods_do_not_request_yet_and_holds_what_they_do() -> None:
    # n1's replica runs (4 GPUs requested), n2's does not yet.
    placed = Placed("team/llama", status(H100_ON_A), {"team/a": {"n1": 4}})
    reservations, holdings = ledger([placed])
    assert reservations == (Reservation("team/llama", "team/a", "n2", 4),)
    assert holdings == (Reservation("team/llama", "team/a", "n1", 4),)


def test_nothing_is_owed_once_every_pod_runs_and_partial_pods_owe_the_rest() -> None:
    running = Placed("team/llama", status(H100_ON_A), {"team/a": {"n1": 4, "n2": 4}})
    assert ledger([running])[0] == ()
    starting = Placed("team/llama", status(H100_ON_A), {"team/a": {"n2": 1}})
    reservations, holdings = ledger([starting])
    assert reservations == (
        Reservation("team/llama", "team/a", "n1", 4),
        Reservation("team/llama", "team/a", "n2", 3),
    )
    assert holdings == (Reservation("team/llama", "team/a", "n2", 1),)


def test_the_ledger_is_in_deployment_order_whatever_the_input_order() -> None:
    one = {**H100_ON_A, "nodes": {"n1": 1}, "replicas": 1}
    b = Placed("team/b", status(one), {})
    a = Placed("team/a", status({**one, "cluster": "team/c"}), {})
    assert [r.deployment for r in ledger([b, a])[0]] == ["team/a", "team/b"]


def test_a_status_reads_back_as_the_assignments_placement_keeps() -> None:
    assert assignments_of(None) == ()
    assert assignments_of(status(H100_ON_A)) == (
        Assignment("team/a", "H100-80GB", 4, 2, (("n1", 1), ("n2", 1))),
    )


# --- deadlines -----------------------------------------------------------------------------


def test_no_ttl_and_no_idle_after_never_expire() -> None:
    assert deadline(spec(), T0, None) is None


def test_ttl_counts_from_creation_and_ignores_traffic() -> None:
    ends = deadline(spec(ttl="2h"), T0, T0 + timedelta(hours=5))
    assert ends == (T0 + timedelta(hours=2), "ttl 2h")


def test_idle_after_counts_from_the_later_of_creation_and_the_last_traffic() -> None:
    idle = spec(idleAfter="30m")
    assert deadline(idle, T0, None) == (T0 + timedelta(minutes=30), "idleAfter 30m without traffic")
    later = T0 + timedelta(minutes=20)
    assert deadline(idle, T0, later)[0] == later + timedelta(minutes=30)  # type: ignore[index]
    stale = T0 - timedelta(days=1)  # traffic from before it existed does not count
    assert deadline(idle, T0, stale)[0] == T0 + timedelta(minutes=30)  # type: ignore[index]


def test_the_earlier_of_ttl_and_idle_after_wins() -> None:
    both = spec(ttl="1h", idleAfter="10m")
    assert deadline(both, T0, None) == (T0 + timedelta(minutes=10), "idleAfter 10m without traffic")
    busy = T0 + timedelta(minutes=55)
    assert deadline(both, T0, busy) == (T0 + timedelta(hours=1), "ttl 1h")


# --- endpoint and serving stack ------------------------------------------------------------


def test_the_endpoint_names_the_engine_service_of_the_runtime() -> None:
    assert endpoint_of(spec()) == "http://model-llama-llama-engine-service.vllm.svc:80/v1"
    kserve = spec(model={**MODEL, "runtime": "kserve"})
    assert endpoint_of(kserve) == "http://llama-predictor.models.svc/v1"


def chart(name: str, chart: str | None = None, **helm: str) -> dict[str, Any]:
    """A Helm add-on of ``chart`` (``name``'s, unless given)."""
    source = {"repository": "https://charts.example", "version": "1.0.0", **helm}
    return {"name": name, "helm": {**source, "chart": chart or name}}


def bundle(name: str, cluster: str, addons: list[str], **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team", **meta},
        "spec": {"clusterRef": {"name": cluster}, "addons": [chart(a) for a in addons]},
    }


def provided(runtime: Runtime, cluster: str, bundles: list[Any], **given: Any) -> bool:
    """`stack_provided` by ``bundles``."""
    return stack_provided(runtime, cluster, stack_sources(bundles), **given)


def test_the_stack_is_provided_only_by_another_live_bundle_with_all_of_it_on_that_cluster() -> None:
    stack = ["gpu-operator", "vllm-stack"]
    full = bundle("a-addons", "a", ["gpu-operator", "vllm-stack", "grafana"])
    assert provided(Runtime.VLLM, "team/a", [full], exclude="team/mine")
    assert not provided(Runtime.VLLM, "team/b", [full], exclude="team/mine")
    assert not provided(Runtime.VLLM, "team/a", [full], exclude="team/a-addons")
    going = bundle("a-addons", "a", stack, deletionTimestamp="2026-01-01T00:00:00Z")
    assert not provided(Runtime.VLLM, "team/a", [going], exclude="team/mine")
    partial = bundle("a-addons", "a", ["gpu-operator"])
    assert not provided(Runtime.VLLM, "team/a", [partial], exclude="team/mine")
    elsewhere = bundle("a-addons", "a", stack)
    elsewhere["spec"]["clusterRef"]["namespace"] = "other"
    assert not provided(Runtime.VLLM, "team/a", [elsewhere], exclude="team/mine")


def test_the_stack_is_provided_by_its_charts_whatever_the_addons_are_called() -> None:
    # The composed bundle's KServe add-on is ``kserve`` with the chart kserve-resources; another
    # bundle may call them anything, fetch them from a mirror, pin other versions.
    own = bundle("a-addons", "a", [])
    own["spec"]["addons"] = [
        chart("certs", "cert-manager", version="v1.16.0"),
        chart("crds", "kserve-crd", repository="oci://mirror.example/kserve"),
        chart("kserve", "kserve-resources"),
        chart("runtimes", "kserve-runtime-configs"),
    ]
    assert provided(Runtime.KSERVE, "team/a", [own], exclude="team/mine")
    assert provided(Runtime.TRITON, "team/a", [own], exclude="team/mine")
    assert not provided(Runtime.VLLM, "team/a", [own], exclude="team/mine")


def test_an_addon_that_only_bears_a_stack_name_does_not_provide_it() -> None:
    named = bundle("a-addons", "a", [])
    named["spec"]["addons"] = [
        {"name": "vllm-stack", "manifests": "apiVersion: v1\nkind: ConfigMap\n"},
    ]
    assert not provided(Runtime.VLLM, "team/a", [named], exclude="team/mine")
    other = bundle("a-addons", "a", [])
    other["spec"]["addons"] = [chart("vllm-stack", "my-own-router")]
    assert not provided(Runtime.VLLM, "team/a", [other], exclude="team/mine")


def selecting(name: str, selector: dict[str, Any], addons: list[str]) -> dict[str, Any]:
    """A bundle of ``addons`` targeting the clusters of its namespace ``selector`` matches."""
    return {
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"clusterSelector": selector, "addons": [chart(a) for a in addons]},
    }


def test_a_selector_bundle_provides_the_stack_where_the_cluster_labels_match() -> None:
    stack = ["gpu-operator", "vllm-stack"]
    by_label = selecting("fleet", {"matchLabels": {"serving": "vllm"}}, stack)
    labelled = {"serving": "vllm", "region": "eu"}
    assert provided(Runtime.VLLM, "team/a", [by_label], exclude="", labels=labelled)
    assert not provided(Runtime.VLLM, "team/a", [by_label], exclude="", labels={})
    # A cluster not listed is matched by no selector, nor is one of another namespace.
    assert not provided(Runtime.VLLM, "team/a", [by_label], exclude="")
    assert not provided(Runtime.VLLM, "other/a", [by_label], exclude="", labels=labelled)
    # Set-based requirements, as target resolution reads them.
    not_eu = {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]}
    expressed = selecting("fleet", not_eu, stack)
    assert not provided(Runtime.VLLM, "team/a", [expressed], exclude="", labels=labelled)
    assert provided(Runtime.VLLM, "team/a", [expressed], exclude="", labels={"region": "us"})
    # An empty selector selects every cluster of the namespace; one that does not parse, none.
    everywhere = selecting("fleet", {}, stack)
    assert provided(Runtime.VLLM, "team/a", [everywhere], exclude="", labels={})
    broken = selecting("fleet", {"matchExpressions": [{"key": "x", "operator": "Near"}]}, stack)
    assert not provided(Runtime.VLLM, "team/a", [broken], exclude="", labels={"x": "1"})
    # What holds for a clusterRef holds for a selector: a partial stack, a DryRun, a deletion.
    partial = selecting("fleet", {}, ["gpu-operator"])
    assert not provided(Runtime.VLLM, "team/a", [partial], exclude="", labels={})
    everywhere["spec"]["syncMode"] = "DryRun"
    assert not provided(Runtime.VLLM, "team/a", [everywhere], exclude="", labels={})


def test_a_dry_run_bundle_does_not_provide_the_stack() -> None:
    planned = bundle("a-addons", "a", ["vllm-stack"])
    assert provided(Runtime.VLLM, "team/a", [planned], exclude="team/mine")
    planned["spec"]["syncMode"] = "DryRun"
    assert not provided(Runtime.VLLM, "team/a", [planned], exclude="team/mine")
    planned["spec"]["syncMode"] = "OneTime"
    assert provided(Runtime.VLLM, "team/a", [planned], exclude="team/mine")


# --- provisioning --------------------------------------------------------------------------


def provisioning(**fields: Any):  # type: ignore[no-untyped-def]
    provision = {**CAPI, **fields.pop("provision", {})}
    return spec(onNoCapacity="Provision", provision=provision, **fields)


def test_the_cheapest_allowed_product_a_replica_fits_on_one_node_is_provisioned() -> None:
    # 70B fp16 needs 146 GiB: 4 L40S (7.40/h) beat 4 A100-80GBs (14.80/h), 2 H200s (17.00/h)
    # and 4 H100s (27.60/h); an L4 or T4 node cannot hold it.
    assert provision_product(provisioning()) == (GpuProduct.L40S, 4)
    only_h = provisioning(placement={"gpuProducts": ["H100-80GB", "H200-141GB"]})
    assert provision_product(only_h) == (GpuProduct.H200_141GB, 2)
    cheap_h100 = {GpuProduct.H100_80GB: 2.0}
    assert provision_product(only_h, cheap_h100) == (GpuProduct.H100_80GB, 4)


def test_a_named_product_is_taken_and_refused_when_a_replica_cannot_fit_one_node() -> None:
    assert provision_product(provisioning(provision={"gpuProduct": "H100-80GB"})) == (
        GpuProduct.H100_80GB,
        4,
    )
    with pytest.raises(SpecError) as refused:
        provision_product(provisioning(provision={"gpuProduct": "L4"}))
    assert "spec.provision.gpuProduct" in str(refused.value)
    assert "a replica of llama does not fit on one L4 node" in str(refused.value)
    with pytest.raises(SpecError) as none:
        provision_product(provisioning(placement={"gpuProducts": ["T4", "L4"]}))
    assert "spec.placement.gpuProducts" in str(none.value)


def test_the_region_is_the_named_one_else_the_first_preferred_else_the_first_allowed() -> None:
    assert provision_region(provisioning(provision={"region": "eu-north-1"})) == "eu-north-1"
    preferred = provisioning(
        preferences={"regions": ["us-west-2", "us-east-1"]}, placement={"regions": ["us-east-1"]}
    )
    assert provision_region(preferred) == "us-west-2"
    assert provision_region(provisioning(placement={"regions": ["ap-south-1"]})) == "ap-south-1"
    with pytest.raises(SpecError) as missing:
        provision_region(provisioning())
    assert "spec.provision.region" in str(missing.value)


def test_the_provisioned_cluster_is_sized_for_the_replicas_that_do_not_fit() -> None:
    wanted = provisioning(
        replicas=5,
        provision={"region": "eu-west-1", "gpuProduct": "H100-80GB", "labels": {"tier": "gold"}},
        placement={"environment": "prod"},
    )
    doc = provision_cluster("team/llama", wanted)
    assert doc["metadata"] == {
        "name": "llama-capacity",
        "namespace": "team",
        "labels": {"aifleet.io/model-deployment": "llama", "aifleet.io/tenant": "team"},
    }
    body = doc["spec"]
    # 5 replicas x 4 H100s on 8-GPU nodes: 3 nodes.
    assert body["gpu"] == {"product": "H100-80GB", "minNodes": 3, "maxNodes": 3}
    assert (body["region"], body["environment"], body["models"]) == ("eu-west-1", "prod", [])
    assert body["labels"] == {"tier": "gold", "aifleet.io/model-deployment": "llama"}
    assert body["capi"] == {"infrastructure": "docker"}
    assert provision_cluster("team/llama", wanted, replicas=2)["spec"]["gpu"]["minNodes"] == 1


def test_the_provisioned_name_fits_a_kubernetes_name() -> None:
    assert provisioned_name("team/llama") == "llama-capacity"
    assert len(provisioned_name("team/" + "x" * 80)) == 63
