"""Drift: what counts as a live object moving away from what was applied."""

import hashlib

from function.model.bundle import DriftExclusion, DriftTarget
from function.model.objects import describe
from function.reconciler.apply import ADDON_LABEL, BUNDLE_ANNOTATION, kind_key
from function.reconciler.drift import (
    IGNORE_ANNOTATION,
    MISSING,
    exclusions_for,
    find_drift,
    ignored,
)
from function.reconciler.driftwatch import fingerprint, keep, kept_health, moved, shared_key
from function.reconciler.hashing import HASH_ANNOTATION, recorded_hash
from function.reconciler.health import builtin_health
from function.reconciler.triggerplan import resource_key

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


def test_what_a_watch_keeps_sorts_events_as_the_whole_object_would() -> None:
    before = keep(_owned(2))
    cases = {
        "someone else's edit": (_owned(5, rv="2"), True),
        "a status change": (_owned(2, rv="2", ready=2), False),
        "our own write (a new hash)": (_owned(5, hash_="h2", rv="2"), False),
    }
    for what, (after, drift) in cases.items():
        assert moved(before, keep(after), False) is drift, what
    assert moved(before, before, True)  # deleted
    assert not moved(None, keep(_owned(5, rv="2")), False)  # new: nothing to compare with
    copy = fingerprint(_owned(2))
    assert "spec" not in copy and "managedFields" not in copy["metadata"]
    assert copy["metadata"]["annotations"] == {HASH_ANNOTATION: "h1"}


def test_a_kept_object_holds_only_what_sorting_reads_and_still_sees_every_edit() -> None:
    before = _owned(2)
    before["metadata"]["labels"] = {ADDON_LABEL: "op", "team": "a"}
    before["metadata"]["annotations"].update({BUNDLE_ANNOTATION: "ns/b", "note": "x"})
    kept = keep(before)
    assert (kept.addon, kept.bundle, kept.hash, kept.opted_out) == ("op", "ns/b", "h1", False)
    copy = fingerprint(before)
    assert copy["metadata"]["labels"] == {ADDON_LABEL: "op"}
    assert copy["metadata"]["annotations"] == {HASH_ANNOTATION: "h1", BUNDLE_ANNOTATION: "ns/b"}
    relabelled = _owned(2, rv="2")
    relabelled["metadata"]["labels"] = {ADDON_LABEL: "op", "team": "b"}
    relabelled["metadata"]["annotations"].update({BUNDLE_ANNOTATION: "ns/b", "note": "x"})
    assert moved(kept, keep(relabelled), False)  # a label not kept still counts
    noted = _owned(2, rv="2")
    noted["metadata"]["labels"] = {ADDON_LABEL: "op", "team": "a"}
    noted["metadata"]["annotations"].update({BUNDLE_ANNOTATION: "ns/b", "note": "y"})
    assert moved(kept, keep(noted), False)  # and an annotation not kept
    opted_out = _owned(5, rv="3")
    opted_out["metadata"]["annotations"][IGNORE_ANNOTATION] = "true"
    assert keep(opted_out).opted_out
    assert fingerprint(opted_out)["metadata"]["annotations"][IGNORE_ANNOTATION] == "true"
    assert not moved(kept, keep(opted_out), False)
    assert not moved(keep(opted_out), keep(opted_out), True)  # nor its deletion


def test_a_readers_copy_answers_every_field_its_readers_read_as_the_object_does() -> None:
    """Each field the drift watch's readers compare (its key, the add-on label, the bundle,
    object hash and opt-out annotations, the built-in verdict) reads the same from the copy
    as from the whole object, for each value it may take."""
    variants: list[dict] = []
    for addon in (None, "op", "other"):
        for bundle in (None, "ns/b", "ns/c"):
            for hash_ in (None, "h1", SHA, SHA.upper(), SHA[:-1], "é"):
                for opt_out in (None, "true", "false"):
                    obj = _owned(2)
                    obj["metadata"]["namespace"] = "m" if opt_out == "false" else "n"
                    annotations = {BUNDLE_ANNOTATION: bundle, HASH_ANNOTATION: hash_}
                    annotations[IGNORE_ANNOTATION] = opt_out
                    obj["metadata"]["annotations"] = {
                        k: v for k, v in annotations.items() if v is not None
                    }
                    obj["metadata"]["labels"] = {ADDON_LABEL: addon} if addon else {}
                    variants.append(obj)
    variants.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    unready = _owned(2)
    unready["metadata"]["generation"] = 2
    unready["status"] = {"observedGeneration": 1}
    variants.append(unready)
    for obj in variants:
        copy = fingerprint(obj)
        assert resource_key(copy) == resource_key(obj), obj
        assert kind_key(copy) == kind_key(obj)
        assert describe(copy) == describe(obj)
        assert recorded_hash(copy) == recorded_hash(obj)
        assert ignored(copy) == ignored(obj)
        for read in ((ADDON_LABEL, "labels"), (BUNDLE_ANNOTATION, "annotations")):
            key, where = read
            assert (copy["metadata"][where] or {}).get(key) == (
                obj["metadata"].get(where) or {}
            ).get(key)
        assert kept_health(copy) == builtin_health(obj)
    assert not kept_health(fingerprint(unready)).healthy


SHA = hashlib.sha256(b"applied").hexdigest()


def _config(value: str, *, rv: str = "1", uid: str = "u1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "namespace": "n",
            "resourceVersion": rv,
            "uid": uid,
            "creationTimestamp": f"2026-01-0{rv}T00:00:00Z",
            "labels": {ADDON_LABEL: "op"},
            "annotations": {HASH_ANNOTATION: "h1", BUNDLE_ANNOTATION: "ns/b"},
        },
        "data": {"k": value},
    }


def test_equal_objects_on_different_clusters_share_one_key() -> None:
    here, there = _config("a"), _config("a", rv="7", uid="u2")
    assert shared_key(here) == resource_key(here)
    assert shared_key(here) is shared_key(there)  # one key for both clusters' watches
    assert keep(_config("b")) != keep(here)
    assert moved(keep(here), keep(_config("b", rv="8")), False)
    assert keep(here).hash == "h1"
    applied = _config("a")
    applied["metadata"]["annotations"][HASH_ANNOTATION] = SHA
    assert keep(applied).hash == SHA
    assert len(keep(applied).stamp) == 16 + 1 + 32  # the digest, then the hash's 32 bytes
    assert moved(keep(_config("a")), keep(applied), False) is False  # a new hash: ours
