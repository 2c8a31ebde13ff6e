"""The matching set of a trigger: only evaluated non-matches and deletions withdraw; names of
add-on sets are deterministic."""

from __future__ import annotations

from function.reconciler.triggerplan import (
    Observation,
    from_status,
    instance_name,
    instances,
    next_matching,
    resource_key,
    to_status,
)

A = ("v1", "ConfigMap", "monitoring", "a")
B = ("v1", "ConfigMap", "monitoring", "b")
C = ("v1", "ConfigMap", "monitoring", "c")


def test_matches_join_and_evaluated_non_matches_leave() -> None:
    matching = next_matching(set(), Observation({A: True, B: True}))
    assert matching == {A, B}
    assert next_matching(matching, Observation({A: False})) == {B}


def test_a_gap_or_a_failed_list_withdraws_nothing() -> None:
    matching = frozenset({A, B})
    assert next_matching(matching, Observation()) == matching
    assert next_matching(matching, Observation({C: True})) == {A, B, C}


def test_deletion_withdraws_by_event_or_by_absence_from_a_complete_list() -> None:
    matching = frozenset({A, B})
    assert next_matching(matching, Observation(deleted=frozenset({A}))) == {B}
    assert next_matching(matching, Observation({B: True}, complete=True)) == {B}


def test_a_flapping_object_ends_in_its_last_state() -> None:
    matching: frozenset[tuple[str, str, str, str]] = frozenset()
    for verdict in (True, False, True, False, True):
        matching = next_matching(matching, Observation({A: verdict}))
    assert instances("hot", "gpu-1", matching, one_for_event=True) == {
        instance_name("hot", "gpu-1", A): A
    }


def test_one_for_event_gives_one_set_per_object_with_stable_names() -> None:
    three = instances("hot", "gpu-1", [C, A, B], one_for_event=True)
    assert len(three) == 3 and set(three.values()) == {A, B, C}
    two = instances("hot", "gpu-1", [A, C], one_for_event=True)
    assert two == {name: key for name, key in three.items() if key != B}
    assert instances("hot", "gpu-1", [A, B], one_for_event=False) == {"hot-gpu-1": None}
    assert instances("hot", "gpu-1", [], one_for_event=False) == {}


def test_names_stay_valid_labels_and_distinct() -> None:
    long = instance_name("t" * 40, "c" * 40)
    assert len(long) <= 63 and long != instance_name("t" * 40, "c" * 41)
    assert instance_name("hot", "gpu-1", A) != instance_name("hot", "gpu-1", B)


def test_the_matching_set_round_trips_through_status() -> None:
    obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    matching = frozenset({A, resource_key(obj)})
    entries = to_status(matching)
    assert entries[0].to_dict() == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "a",
        "namespace": "monitoring",
    }
    assert from_status(entries) == matching
