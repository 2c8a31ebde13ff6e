"""What the store keeps of an object: no managedFields, no Secret data, equal add-ons and
equal small pieces once."""

from typing import Any

import orjson

from function.reconciler.store import DATA_DIGEST, SHARED_BYTES, SHARED_PIECES, share, slim


def bundle(name: str, *addons: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "addons.aifleet.io/v1alpha1",
        "kind": "AddonBundle",
        "metadata": {"name": name, "namespace": "t", "managedFields": [{"manager": "x"}]},
        "spec": {"clusterRef": {"name": name}, "addons": list(addons)},
    }


def test_equal_add_ons_of_stored_bundles_are_held_once() -> None:
    a, b = {"name": "a", "manifests": "---"}, {"name": "b", "dependsOn": ["a"]}
    one = slim(bundle("one", dict(a), dict(b)))
    other = slim(bundle("other", dict(a), {**b, "dependsOn": []}))
    assert "managedFields" not in one["metadata"]
    assert one["spec"]["clusterRef"] == {"name": "one"}
    assert other["spec"]["clusterRef"] == {"name": "other"}
    assert one["spec"]["addons"][0] is other["spec"]["addons"][0]
    assert other["spec"]["addons"][1] == {"name": "b", "dependsOn": []}
    assert one["spec"]["addons"][1] == b


def test_secret_data_is_kept_as_a_digest_only() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "dg=="},
    }
    kept = slim(secret)
    assert "data" not in kept and DATA_DIGEST in kept["metadata"]["annotations"]
    changed = slim({**secret, "data": {"k": "ZQ=="}})
    assert changed["metadata"]["annotations"] != kept["metadata"]["annotations"]


def condition(kind: str, status: Any = "True") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "Ready", "lastTransitionTime": "t0"}


def cluster(name: str, *conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "t", "labels": {"env": "prod", "name": name}},
        "spec": {"topology": {"version": "v1.33.0", "classRef": {"name": "gpu"}}},
        "status": {"conditions": list(conditions)},
    }


def test_equal_pieces_of_stored_objects_are_held_once() -> None:
    one = slim(cluster("one", condition("Ready"), condition("Available")))
    other = slim(cluster("other", condition("Ready"), condition("Available", "False")))
    assert one["spec"] is other["spec"]
    ready, available = one["status"]["conditions"]
    assert ready is other["status"]["conditions"][0]
    assert available == condition("Available")
    assert other["status"]["conditions"][1] == condition("Available", "False")
    assert one["metadata"]["labels"] == {"env": "prod", "name": "one"}
    assert other["metadata"]["labels"] == {"env": "prod", "name": "other"}
    assert one["metadata"]["labels"] is not other["metadata"]["labels"]


def test_a_shared_piece_is_equal_as_json_too() -> None:
    """True and 1, 1 and 1.0 are equal in Python, not in JSON: neither stands for the other;
    nor does a dict for an equal one whose keys come in another order."""
    kept = [share(v) for v in ({"a": True}, {"a": 1}, {"a": 1.0}, {"b": 2, "a": 1}, [1, True])]
    again = [share(v) for v in ({"a": True}, {"a": 1}, {"a": 1.0}, {"a": 1, "b": 2}, [True, 1])]
    assert [orjson.dumps(v) for v in kept] == [
        b'{"a":true}',
        b'{"a":1}',
        b'{"a":1.0}',
        b'{"b":2,"a":1}',
        b"[1,true]",
    ]
    assert kept[0] is again[0] and kept[1] is again[1] and kept[2] is again[2]
    assert list(again[3]) == ["a", "b"] and list(kept[3]) == ["b", "a"]
    assert again[4] == [True, 1] and orjson.dumps(again[4]) == b"[true,1]"


def test_a_large_piece_is_not_held_whole_but_its_small_pieces_are() -> None:
    big = {"clusters": [{"name": f"c{i}", "addons": ["cert-manager", "nfd"]} for i in range(40)]}
    assert len(orjson.dumps(big)) > SHARED_BYTES
    one, other = share(big), share(orjson.loads(orjson.dumps(big)))
    assert one == big and other == big and one is not other
    assert one["clusters"][3] is other["clusters"][3]
    assert one["clusters"][3]["addons"] is one["clusters"][4]["addons"]


def test_pieces_let_go_past_the_bound_leave_stored_objects_whole() -> None:
    first = share({"n": 0, "kinds": ["v1/ConfigMap"]})
    for n in range(1, SHARED_PIECES + 10):
        share({"n": n})
    assert first == {"n": 0, "kinds": ["v1/ConfigMap"]}
    again = share({"n": 0, "kinds": ["v1/ConfigMap"]})
    assert again == first and again is not first
