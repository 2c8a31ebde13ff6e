"""A decision delivered: AddonBundles per chosen cluster, and the deployment's status."""

from pathlib import Path

import jsonschema
import yaml

from function.model.bundle import parse_bundle_spec
from function.model.common import ObjectRef
from function.model.deployment import parse_deployment_spec
from function.placement.decide import place
from function.placement.delivery import deployment_status, placement_bundle
from function.placement.explain import render_decision, render_status
from function.placement.fleetfile import load_fleet

ROOT = Path(__file__).parents[2]
CAPI = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name="a")
SCHEMA = yaml.safe_load((ROOT / "package/crds/addons.aifleet.io_addonbundles.yaml").read_text())[
    "spec"
]["versions"][0]["schema"]["openAPIV3Schema"]


def decision(replicas: int = 3):  # type: ignore[no-untyped-def]
    spec = parse_deployment_spec(
        {
            "model": {"name": "llama", "parameters": "70B", "source": "hf://org/llama"},
            "replicas": replicas,
        }
    )
    fleet, _ = load_fleet(
        {"clusters": [{"name": "team/a", "nodes": [{"product": "H100-80GB", "gpus": 8}]}]}
    )
    return spec, place("team/llama", spec, fleet)


def test_the_bundle_serves_the_clusters_share_on_the_chosen_gpus_after_the_stack() -> None:
    spec, made = decision()
    assignment = made.assignments[0]
    doc = placement_bundle("team/llama", spec, assignment, CAPI, with_stack=True)
    assert jsonschema.Draft7Validator(SCHEMA).is_valid(doc)
    parsed = parse_bundle_spec(doc["spec"])
    assert [a.name for a in parsed.addons] == ["vllm-stack", "model-llama"]
    model = parsed.addons[1]
    assert model.depends_on == ["vllm-stack"] and model.gate == "GPUAllocatable"
    engine = model.helm.values["servingEngineSpec"]["modelSpec"][0]  # type: ignore[union-attr]
    assert (engine["replicaCount"], engine["requestGPU"]) == (2, 4)
    assert engine["vllmConfig"]["tensorParallelSize"] == 4
    assert doc["metadata"] == {
        "name": "llama-on-a",
        "namespace": "team",
        "labels": {"aifleet.io/model-deployment": "llama"},
    }


def test_a_cluster_with_the_stack_gets_the_model_alone() -> None:
    spec, made = decision()
    doc = placement_bundle("team/llama", spec, made.assignments[0], CAPI, with_stack=False)
    (addon,) = parse_bundle_spec(doc["spec"]).addons
    assert (addon.name, addon.depends_on) == ("model-llama", [])


def test_the_status_follows_the_decision_and_the_healthy_clusters() -> None:
    _, made = decision()
    placing = deployment_status(made)
    assert (placing.phase, placing.gpus_held, placing.cluster) == ("Placing", 8, "team/a")
    assert placing.message == "placed 2 of 3 replicas on team/a (2 x 4 H100-80GB); no room for more"
    _, whole = decision(replicas=2)
    assert deployment_status(whole, serving=frozenset({"team/a"})).phase == "Serving"
    huge = parse_deployment_spec(
        {"model": {"name": "m", "parameters": "405B", "source": "hf://o/m"}}
    )
    small, _ = load_fleet({"clusters": [{"name": "a", "nodes": [{"product": "L4", "gpus": 1}]}]})
    empty = deployment_status(place("team/x", huge, small))
    assert empty.phase == "Pending" and empty.gpus_held == 0
    assert empty.candidates[0].reason.endswith("GiB per replica, more than 8 L4 GPUs hold")


def test_a_written_status_renders_like_the_decision_with_phase_and_endpoint() -> None:
    _, made = decision(replicas=2)
    status = deployment_status(made, serving=frozenset({"team/a"}))
    served = status.placements[0].model_copy(update={"endpoint": "http://llama.vllm.svc:80/v1"})
    status = status.model_copy(update={"placements": [served]})
    text = render_status("team/llama", status)
    assert text.splitlines()[0] == (
        "team/llama: Serving: placed 2 of 2 replicas on team/a (2 x 4 H100-80GB)"
    )
    assert (
        "  team/a: 2 replica(s) x 4 H100-80GB = 8 GPUs [gpu=2] serving at "
        "http://llama.vllm.svc:80/v1" in text
    )
    # the cluster lines are the decision's
    decided = render_decision("team/llama", made)
    assert text.split("clusters:\n")[1] == decided.split("clusters:\n")[1]
