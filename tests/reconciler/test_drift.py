"""Drift: what counts as a live object moving away from what was applied."""

from function.model.bundle import DriftExclusion, DriftTarget
from function.reconciler.apply import ADDON_LABEL, BUNDLE_ANNOTATION
from function.reconciler.drift import IGNORE_ANNOTATION, MISSING, exclusions_for, find_drift
from function.reconciler.driftwatch import fingerprint, moved
from function.reconciler.hashing import HASH_ANNOTATION

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
        "/spec/template/spec/containers/op/image",
    ]
    assert find_drift(INTENT, None) == [MISSING]


def test_keyed_lists_allow_entries_of_others_but_not_losing_ours() -> None:
    sidecar = live()
    sidecar["spec"]["template"]["spec"]["containers"].append({"name": "injected", "image": "s"})
    assert find_drift(INTENT, sidecar) == []
    replaced = live()
    replaced["spec"]["template"]["spec"]["containers"] = [{"name": "other", "image": "op:1"}]
    assert find_drift(INTENT, replaced) == ["/spec/template/spec/containers/op"]


def test_atomic_lists_must_stay_as_applied() -> None:
    intent = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "containers": [{"name": "c", "args": ["--a", "--b"]}],
        },
    }
    changed = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists"},
                {"key": "x", "operator": "Exists"},
            ],
            "containers": [{"name": "c", "args": ["--a"]}],
        },
    }
    assert find_drift(intent, changed) == ["/spec/tolerations", "/spec/containers/c/args"]


def test_ports_are_keyed_by_port_and_protocol_defaulting_to_tcp() -> None:
    intent = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    served = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {
            "ports": [
                {"port": 443, "protocol": "TCP"},
                {"port": 80, "protocol": "TCP", "targetPort": 8080},
            ]
        },
    }
    assert find_drift(intent, served) == []
    served["spec"]["ports"][1]["targetPort"] = 9090
    assert find_drift(intent, served) == ["/spec/ports/80/TCP/targetPort"]


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


def _owned(replicas: int, *, hash_: str = "h1", rv: str = "1", ready: int = 0) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "op",
            "namespace": "n",
            "resourceVersion": rv,
            "annotations": {HASH_ANNOTATION: hash_},
            "managedFields": [{"manager": "aifleet", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": replicas, "template": {"spec": {"containers": []}}},
        "status": {"readyReplicas": ready},
    }


def test_a_watch_fingerprint_sorts_events_as_the_whole_object_does() -> None:
    before = _owned(2)
    cases = {
        "someone else's edit": (_owned(5, rv="2"), True),
        "a status change": (_owned(2, rv="2", ready=2), False),
        "our own write (a new hash)": (_owned(5, hash_="h2", rv="2"), False),
    }
    for what, (after, drift) in cases.items():
        assert moved(before, after, False) is drift, what
        assert moved(fingerprint(before), fingerprint(after), False) is drift, what
    assert moved(fingerprint(before), fingerprint(before), True)  # deleted
    kept = fingerprint(before)
    assert "spec" not in kept and "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {HASH_ANNOTATION: "h1"}


def test_a_fingerprint_keeps_only_what_sorting_reads_and_still_sees_every_edit() -> None:
    before = _owned(2)
    before["metadata"]["labels"] = {ADDON_LABEL: "op", "team": "a"}
    before["metadata"]["annotations"].update({BUNDLE_ANNOTATION: "ns/b", "note": "x"})
    kept = fingerprint(before)
    assert kept["metadata"]["labels"] == {ADDON_LABEL: "op"}
    assert kept["metadata"]["annotations"] == {HASH_ANNOTATION: "h1", BUNDLE_ANNOTATION: "ns/b"}
    relabelled = _owned(2, rv="2")
    relabelled["metadata"]["labels"] = {ADDON_LABEL: "op", "team": "b"}
    relabelled["metadata"]["annotations"].update({BUNDLE_ANNOTATION: "ns/b", "note": "x"})
    assert moved(kept, fingerprint(relabelled), False)  # a dropped label still counts
    opted_out = _owned(5, rv="3")
    opted_out["metadata"]["annotations"][IGNORE_ANNOTATION] = "true"
    assert fingerprint(opted_out)["metadata"]["annotations"][IGNORE_ANNOTATION] == "true"
    assert not moved(kept, fingerprint(opted_out), False)
