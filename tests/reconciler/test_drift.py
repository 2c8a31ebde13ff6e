"""Drift: what counts as a live object moving away from what was applied."""

from function.model.bundle import DriftExclusion, DriftTarget
from function.reconciler.drift import MISSING, exclusions_for, find_drift

INTENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "op", "namespace": "n", "labels": {"app": "op"}},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "op", "image": "op:1"}]}},
    },
}


def live(**changes: object) -> dict:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "op",
            "namespace": "n",
            "labels": {"app": "op", "extra": "x"},
            "resourceVersion": "7",
            "generation": 3,
            "uid": "u",
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate"},  # a server default
            "template": {
                "spec": {
                    "containers": [
                        {"name": "op", "image": "op:1", "imagePullPolicy": "IfNotPresent"}
                    ]
                }
            },
        },
        "status": {"availableReplicas": 2},
    }
    obj["spec"].update(changes)
    return obj


def test_defaults_status_and_fields_of_others_are_not_drift() -> None:
    assert find_drift(INTENT, live()) == []


def test_changed_and_removed_fields_are_drift() -> None:
    assert find_drift(INTENT, live(replicas=5)) == ["/spec/replicas"]
    changed = live()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "op:2"
    del changed["metadata"]["labels"]["app"]
    assert find_drift(INTENT, changed) == [
        "/metadata/labels/app",
        "/spec/template/spec/containers/0/image",
    ]
    assert find_drift(INTENT, None) == [MISSING]


def test_a_list_of_another_length_is_drift() -> None:
    changed = live()
    changed["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s"})
    assert find_drift(INTENT, changed) == ["/spec/template/spec/containers"]


def test_numbers_compare_by_value_but_not_with_strings() -> None:
    assert find_drift(INTENT, live(replicas=2.0)) == []
    assert find_drift(INTENT, live(replicas="2")) == ["/spec/replicas"]


def test_exclusions_by_path_and_target() -> None:
    hpa = DriftExclusion(paths=["/spec/replicas"], target=DriftTarget(kind="Deployment", name="op"))
    other = DriftExclusion(paths=["/spec"], target=DriftTarget(kind="StatefulSet"))
    paths = exclusions_for(INTENT, [hpa, other])
    assert paths == ["/spec/replicas"]
    assert find_drift(INTENT, live(replicas=5), paths) == []
    assert exclusions_for(INTENT, [DriftExclusion(paths=["/metadata/labels"])]) == [
        "/metadata/labels"
    ]


def test_secret_string_data_compares_with_the_stored_data() -> None:
    intent = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"token": "abc"},
    }
    stored = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"token": "YWJj"},
    }
    assert find_drift(intent, stored) == []
    stored["data"]["token"] = "eHl6"
    assert find_drift(intent, stored) == ["/data/token"]
