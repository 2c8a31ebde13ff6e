"""Bundle status composition: conditions, transition times, events on phase changes."""

from pydantic import BaseModel

from function.model.bundlestatus import (
    AddonBundleStatus,
    AddonPhase,
    AddonStatus,
    ClusterAddonsStatus,
)
from function.model.common import ObjectRef
from function.reconciler.status import compose_status, transitions
from function.reconciler.statuswrite import merge_entries, merge_patch, stamped

REF = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name="c1", namespace="t")


def cluster(*phases: AddonPhase, message: str | None = None) -> ClusterAddonsStatus:
    addons = [AddonStatus(name=f"a{i}", phase=p, message=message) for i, p in enumerate(phases)]
    ready = all(p in (AddonPhase.HEALTHY, AddonPhase.APPLIED) for p in phases)
    return ClusterAddonsStatus(cluster_ref=REF, ready=ready, addons=addons)


def test_ready_when_every_addon_is_done() -> None:
    s = compose_status(
        generation=3,
        clusters=[cluster(AddonPhase.HEALTHY, AddonPhase.APPLIED)],
        spec_error=None,
        no_targets=None,
        previous=None,
        now="T1",
    )
    ready, synced = s.conditions
    assert (ready.type, ready.status, ready.reason, ready.message) == (
        "Ready",
        "True",
        "AddonsReady",
        "2/2 add-ons ready on 1 cluster(s)",
    )
    assert (synced.status, synced.reason) == ("True", "ReconcileSuccess")
    assert ready.observed_generation == 3 and s.observed_generation == 3


def test_failed_addon_sets_synced_false_with_its_message() -> None:
    s = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.FAILED, message="manifests:3: boom")],
        spec_error=None,
        no_targets=None,
        previous=None,
        now="T1",
    )
    ready, synced = s.conditions
    assert ready.reason == "AddonsFailed"
    assert synced.message == "add-on a0 on t/c1: manifests:3: boom"


def test_invalid_spec_and_no_targets() -> None:
    s = compose_status(
        generation=1,
        clusters=[],
        spec_error="spec.addons: bad",
        no_targets=None,
        previous=None,
        now="T1",
    )
    assert [(c.status, c.reason) for c in s.conditions] == [("False", "InvalidSpec")] * 2
    s = compose_status(
        generation=1,
        clusters=[],
        spec_error=None,
        no_targets="no cluster matches the selector",
        previous=None,
        now="T1",
    )
    assert s.conditions[0].message == "no cluster matches the selector"


def test_transition_time_moves_only_when_status_flips() -> None:
    first = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.PENDING)],
        spec_error=None,
        no_targets=None,
        previous=None,
        now="T1",
    )
    second = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.WAITING)],
        spec_error=None,
        no_targets=None,
        previous=first,
        now="T2",
    )
    assert second.conditions[0].last_transition_time == "T1"
    third = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.HEALTHY)],
        spec_error=None,
        no_targets=None,
        previous=second,
        now="T3",
    )
    assert third.conditions[0].last_transition_time == "T3"
    assert (
        compose_status(
            generation=1,
            clusters=[cluster(AddonPhase.HEALTHY)],
            spec_error=None,
            no_targets=None,
            previous=third,
            now="T4",
        )
        == third
    )


def test_transitions_name_each_changed_addon() -> None:
    old = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.PENDING, AddonPhase.PENDING)],
        spec_error=None,
        no_targets=None,
        previous=None,
        now="T1",
    )
    new = compose_status(
        generation=1,
        clusters=[cluster(AddonPhase.HEALTHY, AddonPhase.PENDING)],
        spec_error=None,
        no_targets=None,
        previous=old,
        now="T2",
    )
    changes = transitions(old, new)
    assert [(c.cluster, c.addon, c.old, c.new, c.reason) for c in changes] == [
        ("t/c1", "a0", AddonPhase.PENDING, AddonPhase.HEALTHY, "AddonHealthy")
    ]
    assert transitions(None, old) == []  # steps on the way are in status, not in events
    assert transitions(new, new) == []


def test_entries_merge_over_the_other_writers_and_count_in_the_aggregates() -> None:
    def on(name: str, generation: int, *phases: AddonPhase) -> ClusterAddonsStatus:
        ref = REF.model_copy(update={"name": name})
        return stamped(cluster(*phases).model_copy(update={"cluster_ref": ref}), generation)

    fresh = AddonBundleStatus(
        clusters=[on("c1", 2, AddonPhase.PENDING), on("c2", 2, AddonPhase.HEALTHY)]
    )
    mine = [on("c1", 2, AddonPhase.HEALTHY)]  # c1 is this writer's; c2 another's
    merged = merge_entries(mine, fresh, lambda ref: ref.name == "c1")
    assert [(c.cluster_ref.name, c.addons[0].phase) for c in merged] == [
        ("c1", AddonPhase.HEALTHY),
        ("c2", AddonPhase.HEALTHY),
    ]
    s = compose_status(
        generation=2, clusters=merged, spec_error=None, no_targets=None, previous=None, now="T"
    )
    ready = s.conditions[0]
    assert (ready.status, ready.message) == ("True", "2/2 add-ons ready on 2 cluster(s)")

    # The other writer's cluster is still at the last generation: not Ready yet.
    behind = merge_entries(
        mine,
        AddonBundleStatus(clusters=[on("c2", 1, AddonPhase.HEALTHY)]),
        lambda ref: ref.name == "c1",
    )
    s = compose_status(
        generation=2, clusters=behind, spec_error=None, no_targets=None, previous=None, now="T"
    )
    ready = s.conditions[0]
    assert (ready.status, ready.reason) == ("False", "AddonsPending")
    assert (
        ready.message == "2/2 add-ons ready on 2 cluster(s); 1 cluster(s) not yet at generation 2"
    )
    # An entry of its own that it no longer has (departed) is dropped.
    assert merge_entries([], fresh, lambda ref: ref.name == "c1") == [fresh.clusters[1]]


def test_a_status_patch_nulls_what_the_new_status_dropped() -> None:
    current = {
        "observedGeneration": 1,
        "rollout": {"generation": 1, "waitingClusters": 1, "message": "1 waiting"},
        "clusters": [{"name": "c1", "connectionStatus": "Down"}],
        "gone": {"a": 1},
    }
    wanted = {
        "observedGeneration": 2,
        "rollout": {"generation": 2, "waitingClusters": 0},
        "clusters": [{"name": "c1"}],
    }
    assert merge_patch(current, wanted) == {
        "observedGeneration": 2,
        "rollout": {"generation": 2, "waitingClusters": 0, "message": None},
        "clusters": [{"name": "c1"}],  # lists are replaced whole
        "gone": None,
    }
    assert merge_patch({}, wanted) == wanted


def test_copies_change_only_themselves_where_statuses_share_their_given_fields() -> None:
    # Statuses given the same fields share one record of them (a fleet keeps one status per
    # add-on and cluster): a copy that sets another field must not add it to the others'.
    first = AddonStatus(name="a", phase=AddonPhase.WAITING, hash="h1", kinds=["v1/ConfigMap"])
    second = AddonStatus(name="b", phase=AddonPhase.WAITING, hash="h2", kinds=["v1/Secret"])
    update = {"phase": AddonPhase.HEALTHY, "message": None, "reason": None}
    healthy = first.model_copy(update=update)
    assert healthy == BaseModel.model_copy(first, update=update)  # as pydantic copies
    assert healthy.model_fields_set == {"name", "phase", "hash", "kinds", "message", "reason"}
    assert first.model_fields_set == second.model_fields_set == {"name", "phase", "hash", "kinds"}
    assert (first.phase, second.phase) == (AddonPhase.WAITING, AddonPhase.WAITING)
    assert second.model_dump(exclude_unset=True) == {
        "name": "b",
        "phase": AddonPhase.WAITING,
        "hash": "h2",
        "kinds": ["v1/Secret"],
    }
    assert healthy.to_dict() == {
        "name": "a",
        "phase": "Healthy",
        "hash": "h1",
        "resources": 0,
        "kinds": ["v1/ConfigMap"],
    }
    assert first.model_copy() == first and first.model_copy() is not first
    deep = first.model_copy(update={"hash": "h3"}, deep=True)
    assert (deep.hash, deep.kinds, first.hash) == ("h3", ["v1/ConfigMap"], "h1")
    assert deep.kinds is not first.kinds
    assert deep.model_fields_set == first.model_fields_set


def test_composed_status_holds_the_cluster_entries_it_was_given() -> None:
    # The entries the reconciler keeps per target are the ones in the bundle's status (no
    # copy per cluster); composing them leaves them as they were.
    entry = cluster(AddonPhase.HEALTHY, AddonPhase.HEALTHY).model_copy(update={"key": "c1"})
    before = entry.to_dict()
    s = compose_status(
        generation=1, clusters=[entry], spec_error=None, no_targets=None, previous=None, now="T"
    )
    assert s.clusters[0] is entry
    assert entry.to_dict() == before
