"""Which serving-stack bundles a namespace's placement bundles need (pure)."""

from __future__ import annotations

from typing import Any

from function.model.bundle import parse_bundle_spec
from function.model.xr import Runtime
from function.placement.delivery import DEPLOYMENT_LABEL
from function.reconciler.servingstack import (
    RUNTIME_LABEL,
    STACK_LABEL,
    StackBringers,
    stack_bundle_name,
    wanted_stacks,
)

REF = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster"}


def placement(name: str, cluster: str, runtime: str, **meta: Any) -> dict[str, Any]:
    labels = {DEPLOYMENT_LABEL: name.split("-on-")[0], RUNTIME_LABEL: runtime}
    return {
        "metadata": {"name": name, "namespace": "team", "labels": labels, **meta},
        "spec": {"clusterRef": {**REF, "name": cluster}, "addons": [{"name": "model-x"}]},
    }


def test_one_stack_per_cluster_and_stack_whatever_the_models() -> None:
    bundles = [
        placement("a-on-eu", "eu", "vllm"),
        placement("b-on-eu", "eu", "vllm"),
        placement("c-on-eu", "eu", "kserve"),
        placement("d-on-eu", "eu", "triton"),  # served by KServe's stack
        placement("e-on-us", "us", "vllm", deletionTimestamp="2026-12-07T09:00:00Z"),
    ]
    wanted = wanted_stacks("team", bundles, None)
    assert sorted(wanted) == ["eu-kserve-serving", "eu-vllm-serving", "us-vllm-serving"]
    assert stack_bundle_name("team/eu", Runtime.TRITON) == "eu-kserve-serving"
    kserve = wanted["eu-kserve-serving"]
    assert kserve["metadata"]["labels"] == {STACK_LABEL: "kserve"}
    spec = parse_bundle_spec(kserve["spec"])
    assert [a.name for a in spec.addons] == [
        "cert-manager",
        "kserve-crd",
        "kserve",
        "kserve-runtimes",
    ]
    assert spec.cluster_ref.name == "eu"


VLLM_STACK = {
    "name": "vllm-stack",
    "namespace": "vllm",
    "helm": {
        "repository": "https://vllm-project.github.io/production-stack",
        "chart": "vllm-stack",
        "version": "0.1.12",
    },
}


def test_no_stack_where_another_bundle_brings_it_whole() -> None:
    composed = {
        "metadata": {"name": "eu-addons", "namespace": "team"},
        "spec": {"clusterRef": {**REF, "name": "eu"}, "addons": [VLLM_STACK]},
    }
    bundles = [placement("a-on-eu", "eu", "vllm"), placement("b-on-us", "us", "vllm"), composed]
    assert sorted(wanted_stacks("team", bundles, None)) == ["us-vllm-serving"]
    # A stack bundle of ours does not count as another bundle bringing it.
    ours = wanted_stacks("team", bundles, None)["us-vllm-serving"]
    again = wanted_stacks("team", [*bundles, ours], None)
    assert sorted(again) == ["us-vllm-serving"]


def test_a_stack_where_another_bundle_has_an_addon_of_its_name_but_not_its_chart() -> None:
    squatter = {"name": "vllm-stack", "namespace": "vllm", "manifests": "kind: ConfigMap\n"}
    hand_made = {
        "metadata": {"name": "eu-addons", "namespace": "team"},
        "spec": {"clusterRef": {**REF, "name": "eu"}, "addons": [squatter]},
    }
    bundles = [placement("a-on-eu", "eu", "vllm"), hand_made]
    assert sorted(wanted_stacks("team", bundles, None)) == ["eu-vllm-serving"]


def test_no_stack_where_a_selector_bundle_matches_the_cluster_labels_now() -> None:
    fleet = {
        "metadata": {"name": "fleet-vllm", "namespace": "team"},
        "spec": {"clusterSelector": {"matchLabels": {"serving": "vllm"}}, "addons": [VLLM_STACK]},
    }
    bundles = [placement("a-on-eu", "eu", "vllm"), placement("b-on-us", "us", "vllm"), fleet]
    labels = {"team/eu": {"serving": "vllm"}, "team/us": {"serving": "kserve"}}
    assert sorted(wanted_stacks("team", bundles, None, labels)) == ["us-vllm-serving"]
    # eu relabelled out of the selector: it needs its own stack again.
    relabelled = {**labels, "team/eu": {}}
    assert sorted(wanted_stacks("team", bundles, None, relabelled)) == [
        "eu-vllm-serving",
        "us-vllm-serving",
    ]


def test_the_stacks_follow_a_selector_bundle_whose_selector_changes() -> None:
    fleet: dict[str, Any] = {
        "metadata": {"name": "fleet-vllm", "namespace": "team"},
        "spec": {"clusterSelector": {"matchLabels": {"serving": "vllm"}}, "addons": [VLLM_STACK]},
    }
    bundles = [placement("a-on-eu", "eu", "vllm"), placement("b-on-us", "us", "vllm"), fleet]
    labels = {"team/eu": {"serving": "vllm", "region": "eu"}, "team/us": {"region": "us"}}
    assert sorted(wanted_stacks("team", bundles, None, labels)) == ["us-vllm-serving"]
    # The same bundle, its selector edited in place: now it picks us, not eu.
    fleet["spec"]["clusterSelector"]["matchLabels"] = {"region": "us"}
    assert sorted(wanted_stacks("team", bundles, None, labels)) == ["eu-vllm-serving"]
    fleet["spec"]["clusterSelector"] = {
        "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}]
    }
    assert sorted(wanted_stacks("team", bundles, None, labels)) == []
    # One that no longer parses picks no cluster; mended, it picks them again.
    fleet["spec"]["clusterSelector"]["matchExpressions"][0]["operator"] = "Near"
    assert sorted(wanted_stacks("team", bundles, None, labels)) == [
        "eu-vllm-serving",
        "us-vllm-serving",
    ]
    fleet["spec"]["clusterSelector"]["matchExpressions"][0]["operator"] = "In"
    assert sorted(wanted_stacks("team", bundles, None, labels)) == []
    fleet["spec"]["clusterSelector"]["matchExpressions"][0]["values"].remove("us")
    assert sorted(wanted_stacks("team", bundles, None, labels)) == ["us-vllm-serving"]
    # A second bundle with a selector the first once had brings us its stack.
    twin = {
        "metadata": {"name": "fleet-us", "namespace": "team"},
        "spec": {"clusterSelector": {"matchLabels": {"region": "us"}}, "addons": [VLLM_STACK]},
    }
    assert sorted(wanted_stacks("team", [*bundles, twin], None, labels)) == []


def test_a_bundle_change_may_change_the_stacks_while_it_has_or_had_stack_charts() -> None:
    bringers = StackBringers()
    fleet = {"metadata": {"name": "fleet-vllm", "namespace": "team"}, "spec": {"addons": []}}
    assert not bringers.changed(fleet, gone=False)  # no stack chart, none before
    fleet["spec"]["addons"] = [VLLM_STACK]
    assert bringers.changed(fleet, gone=False)
    fleet["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert not bringers.changed(fleet, gone=False)  # a status write brings no stack anywhere
    fleet["spec"]["clusterSelector"] = {"matchLabels": {"gpu": "h100"}}
    assert bringers.changed(fleet, gone=False)  # other clusters now
    assert not bringers.changed(fleet, gone=False)
    fleet["spec"]["addons"] = [{"name": "motd", "manifests": "kind: ConfigMap\n"}]
    assert bringers.changed(fleet, gone=False)  # it brought the stack: it no longer does
    assert not bringers.changed(fleet, gone=False)
    fleet["spec"]["addons"] = [VLLM_STACK]
    assert bringers.changed(fleet, gone=False)
    assert bringers.changed(fleet, gone=True)  # deleted: the stack it brought is gone
    fleet["spec"]["addons"] = []
    assert not bringers.changed(fleet, gone=False)


def test_a_cluster_matters_to_the_stacks_when_it_comes_goes_or_changes_its_labels() -> None:
    bringers = StackBringers()
    eu: dict[str, Any] = {"metadata": {"name": "eu", "namespace": "team", "labels": {"a": "1"}}}
    assert bringers.relabelled(eu, gone=False)  # new
    eu["status"] = {"phase": "Provisioned"}
    assert not bringers.relabelled(eu, gone=False)  # its status moved, not its labels
    eu["metadata"]["labels"] = {"a": "2"}
    assert bringers.relabelled(eu, gone=False)
    assert not bringers.relabelled(eu, gone=False)
    assert bringers.relabelled(eu, gone=True)
    assert bringers.relabelled(eu, gone=False)  # back again
