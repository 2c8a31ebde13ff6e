"""Pure parts of the emulator: selector parsing, field sets, merge order, patches."""

from __future__ import annotations

import pytest

from function.testing.managed_fields import decode, encode, field_set, flatten, path_string
from function.testing.patches import merge_patch, strategic_merge_patch
from function.testing.schema import BuiltinNode, ListType, OpenAPINode
from function.testing.selectors import parse_label_selector, selector_from_match
from function.testing.ssa import merge
from function.testing.status import StatusError


def test_label_selector_equalities_feed_the_index() -> None:
    selector = parse_label_selector("app=web,tier in (a),env!=prod,x")
    assert selector.equalities == [("app", "web"), ("tier", "a")]
    assert selector.matches({"app": "web", "tier": "a", "x": ""})
    assert not selector.matches({"app": "web", "tier": "a", "env": "prod", "x": ""})


def test_match_expressions_become_requirements() -> None:
    selector = selector_from_match(
        {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}
    )
    assert selector.matches({"a": "1"}) and not selector.matches({"a": "1", "b": "2"})


@pytest.mark.parametrize("text", ["a in (x", "!", "a=b=c", "UPPER/key=x"])
def test_bad_label_selectors(text: str) -> None:
    with pytest.raises(StatusError) as error:
        parse_label_selector(text)
    assert error.value.code == 400


def test_fields_v1_round_trip_marks_owned_parents() -> None:
    paths = {
        ("f:spec", "f:containers", 'k:{"name":"a"}'),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"),
    }
    encoded = encode(paths)
    assert encoded == {"f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}}}}
    assert decode(encoded) == paths


def test_field_set_of_an_applied_object() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "finalizers": ["x"]},
        "spec": {
            "containers": [{"name": "c", "ports": [{"containerPort": 80}]}],
            "tolerations": [{"key": "t"}],
        },
    }
    owned = {path_string(p) for p in field_set(flatten(obj, BuiltinNode()))}
    assert owned == {
        ".metadata.labels.a",
        '.metadata.finalizers[="x"]',
        '.spec.containers[name="c"]',
        '.spec.containers[name="c"].name',
        '.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"]',
        '.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"].containerPort',
        ".spec.tolerations",
    }


def test_merge_keeps_live_only_items_in_place_and_config_order() -> None:
    node = OpenAPINode(
        {
            "properties": {
                "items": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]}
            }
        },
        root=True,
    )
    live = {"items": [{"k": "a"}, {"k": "x"}, {"k": "b"}]}
    config = {"items": [{"k": "b", "v": 1}, {"k": "a"}]}
    merged = merge(live, config, node)
    assert [i["k"] for i in merged["items"]] == ["x", "b", "a"]
    assert merged["items"][1] == {"k": "b", "v": 1}


def test_openapi_list_types() -> None:
    node = OpenAPINode({"properties": {"s": {"x-kubernetes-list-type": "set"}}}, root=True)
    assert node.field("s").list_type == ListType("set")
    assert node.field("conditions").list_type == ListType("map", ("type",))
    assert node.field("other").list_type.relation == "atomic"


def test_merge_patch_and_strategic_directives() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}) == {"a": {"c": 2}}
    live = {"metadata": {"finalizers": ["a"]}, "spec": {"x": {"y": 1, "z": 2}}}
    patch = {"metadata": {"finalizers": ["b"]}, "spec": {"x": {"$patch": "replace", "y": 3}}}
    assert strategic_merge_patch(live, patch) == {
        "metadata": {"finalizers": ["a", "b"]},
        "spec": {"x": {"y": 3}},
    }
    removal = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(live, removal)["metadata"]["finalizers"] == []
