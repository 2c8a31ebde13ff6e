"""What the store keeps of an object: no managedFields, no Secret data, equal add-ons once."""

from typing import Any

from function.reconciler.store import DATA_DIGEST, slim


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
