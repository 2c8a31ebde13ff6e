"""The two hashes that gate work: the input of an add-on on a cluster, per object essence."""

from __future__ import annotations

import copy
from typing import Any

from function.model.bundle import AddonSpec
from function.reconciler.hashing import (
    HASH_ANNOTATION,
    addon_input_hash,
    object_essence,
    object_hash,
    with_hash_annotation,
)
from function.reconciler.templates import TemplateContext
from tests.objects import gpu_operator_addon

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "gpu-operator",
        "namespace": "gpu-operator",
        "labels": {"app": "gpu-operator"},
        "annotations": {"team": "ml"},
    },
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "op"}]}}},
}


def live(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns for ``obj``: server metadata and a status added."""
    returned = copy.deepcopy(obj)
    returned["metadata"].update(
        uid="0f3c",
        resourceVersion="4711",
        generation=3,
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "aifleet", "operation": "Apply"}],
    )
    returned["metadata"]["annotations"]["addons.aifleet.io/bundle"] = "team-a/inference"
    returned["status"] = {"availableReplicas": 1}
    return returned


def test_server_metadata_status_and_own_annotations_do_not_count() -> None:
    assert object_hash(live(DESIRED)) == object_hash(DESIRED)
    assert object_essence(live(DESIRED)) == DESIRED


def test_key_order_does_not_count() -> None:
    reordered = {k: DESIRED[k] for k in reversed(list(DESIRED))}
    reordered["metadata"] = {k: DESIRED["metadata"][k] for k in reversed(list(DESIRED["metadata"]))}
    assert object_hash(reordered) == object_hash(DESIRED)


def test_every_change_that_applies_differently_counts() -> None:
    changes = [
        ("spec", {"replicas": 2, "template": DESIRED["spec"]["template"]}),
        ("metadata", {**DESIRED["metadata"], "labels": {"app": "other"}}),
        ("metadata", {**DESIRED["metadata"], "annotations": {"team": "infra"}}),
        ("metadata", {**DESIRED["metadata"], "namespace": "other"}),
        ("apiVersion", "apps/v2"),
    ]
    hashes = {object_hash({**DESIRED, key: value}) for key, value in changes}
    assert len(hashes) == len(changes)
    assert object_hash(DESIRED) not in hashes


def test_an_object_without_annotations_equals_one_with_only_ours() -> None:
    bare = {**DESIRED, "metadata": {"name": "x"}}
    ours = {**DESIRED, "metadata": {"name": "x", "annotations": {HASH_ANNOTATION: "abc"}}}
    assert object_hash(bare) == object_hash(ours)


def test_the_stamped_hash_survives_a_round_trip_through_the_server() -> None:
    stamped = with_hash_annotation(DESIRED)
    assert stamped["metadata"]["annotations"][HASH_ANNOTATION] == object_hash(DESIRED)
    assert object_hash(live(stamped)) == object_hash(DESIRED)
    assert HASH_ANNOTATION not in DESIRED["metadata"]["annotations"]  # the input is untouched


CLUSTER = {
    "kind": "Cluster",
    "metadata": {"name": "llama-eu", "labels": {"region": "eu-west-1"}},
    "status": {"phase": "Provisioned"},
}


def addon(**fields: Any) -> AddonSpec:
    base = gpu_operator_addon(values={"driver": {"version": "{{ cluster.labels.region }}"}})
    return AddonSpec.model_validate({**base, **fields})


def input_hash(
    spec: AddonSpec | None = None,
    context: TemplateContext | None = None,
    manifests_from: dict[str, str] | None = None,
    digest: str | None = "sha256:aa",
) -> str:
    return addon_input_hash(
        spec or addon(), context or TemplateContext(cluster=CLUSTER), manifests_from or {}, digest
    )


def test_the_input_hash_is_stable() -> None:
    assert input_hash() == input_hash()
    assert len(input_hash()) == 64


def test_every_input_that_changes_the_render_changes_the_hash() -> None:
    relabelled = {**CLUSTER, "metadata": {"name": "llama-eu", "labels": {"region": "us"}}}
    hashes = {
        input_hash(),
        input_hash(spec=addon(namespace="other")),
        input_hash(context=TemplateContext(cluster=relabelled)),
        input_hash(manifests_from={"ConfigMap a/b:c": "x: 1"}),
        input_hash(digest="sha256:bb"),
        input_hash(digest=None),
    }
    assert len(hashes) == 6


def test_context_no_template_reads_does_not_change_the_hash() -> None:
    with_infrastructure = TemplateContext(
        cluster=CLUSTER,
        infrastructure={"kind": "OpenStackCluster", "spec": {"flavor": "gpu"}},
        resources={"quota": {"data": {"gpus": "8"}}},
    )
    assert input_hash(context=with_infrastructure) == input_hash()


def test_context_read_by_any_template_of_the_addon_counts() -> None:
    spec = addon(manifests="data: '{{ resources.quota.data.gpus }}'\n")

    def with_quota(gpus: str) -> TemplateContext:
        return TemplateContext(cluster=CLUSTER, resources={"quota": {"data": {"gpus": gpus}}})

    assert input_hash(spec, with_quota("8")) != input_hash(spec, with_quota("16"))
    from_config_map = {"ConfigMap a/b:c": "n: {{ infrastructure.spec.flavor }}"}

    def with_flavor(flavor: str) -> TemplateContext:
        return TemplateContext(cluster=CLUSTER, infrastructure={"spec": {"flavor": flavor}})

    assert input_hash(context=with_flavor("a"), manifests_from=from_config_map) != input_hash(
        context=with_flavor("b"), manifests_from=from_config_map
    )


def test_a_template_that_does_not_parse_makes_all_context_count() -> None:
    broken = addon(manifests="{% if %}")

    def with_flavor(flavor: str) -> TemplateContext:
        return TemplateContext(cluster=CLUSTER, infrastructure={"spec": {"flavor": flavor}})

    assert input_hash(broken, with_flavor("a")) != input_hash(broken, with_flavor("b"))


def test_a_cluster_recreated_under_its_name_is_a_new_input() -> None:
    addon = AddonSpec.model_validate({"name": "a", "manifests": "kind: X"})
    first = TemplateContext(cluster={"metadata": {"name": "c1", "uid": "u1"}})
    again = TemplateContext(cluster={"metadata": {"name": "c1", "uid": "u1", "labels": {"x": "y"}}})
    recreated = TemplateContext(cluster={"metadata": {"name": "c1", "uid": "u2"}})
    assert addon_input_hash(addon, first, {}) == addon_input_hash(addon, again, {})
    assert addon_input_hash(addon, first, {}) != addon_input_hash(addon, recreated, {})
