"""The AddonBundle contract: parsing, field-path errors and dependency order."""

import pytest

from function.errors import SpecError
from function.model.bundle import ClusterGate, parse_bundle_spec
from function.model.bundlestatus import AddonPhase
from function.model.sync import SyncMode


def bundle(*addons: dict, **spec: object) -> dict:
    base: dict = {
        "clusterRef": {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": "c1"}
    }
    base.update(spec)
    base["addons"] = list(addons)
    return base


def addon(name: str, *deps: str) -> dict:
    return {"name": name, "dependsOn": list(deps), "manifests": "---"}


def test_parses_defaults_and_camel_case() -> None:
    spec = parse_bundle_spec(
        bundle(
            addon("nfd"),
            {
                "name": "gpu-operator",
                "dependsOn": ["nfd"],
                "helm": {"repository": "oci://x", "chart": "gpu-operator", "version": "v1"},
            },
        )
    )
    assert spec.sync_mode is SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION
    assert spec.addons[1].gate is ClusterGate.CONTROL_PLANE_INITIALIZED
    assert spec.addons[1].helm is not None and spec.addons[1].helm.release_name is None
    assert spec.to_dict()["addons"][1]["dependsOn"] == ["nfd"]


def test_enum_error_names_path_and_allowed_values() -> None:
    with pytest.raises(SpecError) as err:
        parse_bundle_spec(bundle(addon("a"), syncMode="Sometimes"))
    assert str(err.value) == (
        "spec.syncMode: unsupported value 'Sometimes'; allowed: OneTime, Continuous, "
        "ContinuousWithDriftDetection, DryRun"
    )


def test_unknown_field_and_missing_content() -> None:
    with pytest.raises(SpecError) as err:
        parse_bundle_spec(bundle({"name": "a", "manifests": "", "helmm": {}}))
    assert [e.path for e in err.value.errors] == ["spec.addons[0].helmm"]
    assert err.value.errors[0].message == "unknown field"
    with pytest.raises(SpecError) as err:
        parse_bundle_spec(bundle({"name": "a"}))
    assert str(err.value) == "spec.addons[0]: an add-on needs helm, manifests or manifestsFrom"


def test_exactly_one_target() -> None:
    with pytest.raises(SpecError, match="exactly one of clusterRef and clusterSelector"):
        parse_bundle_spec(bundle(addon("a"), clusterSelector={"matchLabels": {"a": "b"}}))


def test_order_respects_dependencies_and_list_order() -> None:
    spec = parse_bundle_spec(
        bundle(
            addon("models", "serving"),
            addon("nfd"),
            addon("serving", "gpu"),
            addon("gpu", "nfd"),
            addon("monitoring"),
        )
    )
    from function.model.bundle import dependency_order

    assert [a.name for a in dependency_order(spec.addons)] == [
        "nfd",
        "monitoring",
        "gpu",
        "serving",
        "models",
    ]


def test_cycle_and_unknown_dependency_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"spec.addons\[\d\].dependsOn: dependency cycle: "):
        parse_bundle_spec(bundle(addon("a", "b"), addon("b", "a")))
    with pytest.raises(SpecError, match=r"spec.addons\[0\].dependsOn\[0\]: unknown add-on 'zz'"):
        parse_bundle_spec(bundle(addon("a", "zz")))


def test_phases_are_the_contract_names() -> None:
    assert [p.value for p in AddonPhase] == ["Pending", "Waiting", "Applied", "Healthy", "Failed"]


def test_equal_add_ons_of_different_bundles_are_held_once() -> None:
    one = parse_bundle_spec(bundle(addon("a"), addon("b", "a")))
    ref = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": "other"}
    other = parse_bundle_spec(bundle(addon("a"), addon("b", "a"), clusterRef=ref))
    assert one.cluster_ref != other.cluster_ref
    assert [a.name for a in other.addons] == ["a", "b"]
    assert all(x is y for x, y in zip(one.addons, other.addons, strict=True))
    changed = parse_bundle_spec(bundle(addon("a"), addon("b")))
    assert changed.addons[0] is one.addons[0]
    assert changed.addons[1] is not one.addons[1] and changed.addons[1].depends_on == []
