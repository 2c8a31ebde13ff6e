"""The composed AddonBundle: catalog selection, overrides, and the reconciler's contract."""

from typing import Any

import pytest

from function.compose import CompositeResource, compose
from function.errors import SpecError
from function.model.bundle import ClusterGate, dependency_order, parse_bundle_spec
from function.model.input import parse_input


def bundle_for(models: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    xr = CompositeResource(
        api_version="aifleet.io/v1alpha1",
        kind="AIInferenceCluster",
        name="c1",
        namespace="team-a",
        spec={
            "region": "eu-west-1",
            "capi": {"infrastructure": "docker"},
            "gpu": {"product": "H100-80GB"},
            "models": models,
            **spec,
        },
    )
    composed = compose(xr, {}, parse_input({}))
    return composed.resources["addon-bundle"].body


def names(bundle: dict[str, Any]) -> list[str]:
    return [addon["name"] for addon in bundle["spec"]["addons"]]


VLLM = {"name": "small", "parameters": "8B", "source": "hf://org/small"}
KSERVE = {"name": "big", "parameters": "70B", "runtime": "kserve", "source": "hf://org/big"}


def test_runtimes_select_their_serving_stacks_in_install_order() -> None:
    assert names(bundle_for([])) == ["nfd", "gpu-operator", "monitoring"]
    assert names(bundle_for([VLLM, KSERVE])) == [
        "cert-manager",
        "nfd",
        "gpu-operator",
        "monitoring",
        "kserve-crd",
        "kserve",
        "kserve-runtimes",
        "vllm-stack",
        "model-small",
        "model-big",
    ]


def test_the_bundle_is_what_the_reconciler_parses_and_lists_dependencies_first() -> None:
    bundle = bundle_for([VLLM, KSERVE])
    spec = parse_bundle_spec(bundle["spec"])
    assert spec.to_manifest() == bundle["spec"]
    assert sorted(a.name for a in dependency_order(spec.addons)) == sorted(names(bundle))
    listed = names(bundle)
    for position, addon in enumerate(spec.addons):
        assert all(listed.index(dep) < position for dep in addon.depends_on), addon.name
    assert spec.cluster_ref is not None
    assert (spec.cluster_ref.kind, spec.cluster_ref.name, spec.cluster_ref.namespace) == (
        "Cluster",
        "c1",
        "team-a",
    )
    gates = {addon.name: addon.gate for addon in spec.addons}
    assert gates["model-small"] is gates["model-big"] is ClusterGate.GPU_ALLOCATABLE
    assert gates["gpu-operator"] is ClusterGate.CONTROL_PLANE_INITIALIZED


def test_docker_machines_get_no_driver_or_toolkit() -> None:
    operator = bundle_for([])["spec"]["addons"][1]
    values = operator["helm"]["values"]
    assert (values["driver"], values["toolkit"], values["nfd"]) == (
        {"enabled": False},
        {"enabled": False},
        {"enabled": False},
    )


def test_vllm_engine_release_carries_the_sizing() -> None:
    (model,) = [a for a in bundle_for([VLLM])["spec"]["addons"] if a["name"] == "model-small"]
    assert model["dependsOn"] == ["vllm-stack"]
    values = model["helm"]["values"]
    assert values["routerSpec"] == {"enableRouter": False}
    (engine,) = values["servingEngineSpec"]["modelSpec"]
    assert (engine["modelURL"], engine["requestGPU"]) == ("org/small", 1)
    assert engine["vllmConfig"] == {
        "tensorParallelSize": 1,
        "maxModelLen": 8192,
        "gpuMemoryUtilization": 0.9,
        "dtype": "float16",
    }


def test_xr_values_merge_over_the_catalog() -> None:
    bundle = bundle_for(
        [VLLM],
        addons={
            "values": {
                "gpu-operator": {"driver": {"enabled": True, "version": "595.91.07"}},
                "model-small": {"servingEngineSpec": {"runtimeClassName": None}},
            }
        },
    )
    addons = {a["name"]: a for a in bundle["spec"]["addons"]}
    assert addons["gpu-operator"]["helm"]["values"]["driver"] == {
        "enabled": True,
        "version": "595.91.07",
    }
    engine = addons["model-small"]["helm"]["values"]["servingEngineSpec"]
    assert "runtimeClassName" not in engine
    assert engine["enableEngine"] is True


def test_disabling_monitoring_with_what_needs_it() -> None:
    bundle = bundle_for([], addons={"disable": ["monitoring"]})
    assert names(bundle) == ["nfd", "gpu-operator"]
    values = bundle["spec"]["addons"][1]["helm"]["values"]
    assert values["dcgmExporter"] == {"serviceMonitor": {"enabled": False}}
    with pytest.raises(SpecError, match=r"spec.addons.disable\[0\]: add-on 'monitoring' is needed"):
        bundle_for([VLLM], addons={"disable": ["monitoring"]})


def test_extras_follow_the_built_in_add_ons() -> None:
    extra = {"name": "dashboards", "dependsOn": ["monitoring"], "manifests": "---"}
    assert names(bundle_for([], addons={"extra": [extra]}))[-1] == "dashboards"
