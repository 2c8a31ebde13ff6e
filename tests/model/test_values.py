"""Helm's rule for layering values, shared by the function and the reconciler."""

from typing import Any

import pytest

from function.model.values import merge_values, string_leaves


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": 2}}, {"a": {"b": 2}}),
        ({"a": {"b": 1}}, {"a": None}, {}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}, {"a": {"c": 2}}),
    ],
    ids=["maps-merge", "lists-replace", "map-replaces-scalar", "null-deletes", "nested-null"],
)
def test_merge_is_helms(base: Any, override: Any, merged: Any) -> None:
    assert merge_values(base, override) == merged


def test_a_null_with_nothing_beneath_is_left_for_the_charts_defaults() -> None:
    assert merge_values({}, {"a": None, "b": {"c": None}}) == {"a": None, "b": {"c": None}}
    assert merge_values({"a": None}, {"a": None}) == {"a": None}


def test_neither_input_is_modified() -> None:
    base = {"a": {"x": 1}, "c": {"d": 1}}
    override = {"a": {"y": 2}, "c": None}
    assert merge_values(base, override) == {"a": {"x": 1, "y": 2}}
    assert base == {"a": {"x": 1}, "c": {"d": 1}}
    assert override == {"a": {"y": 2}, "c": None}


def test_string_leaves_are_every_string_in_mappings_and_lists_in_order() -> None:
    values = {"a": "x", "b": [1, "y", {"c": "z", "d": None}], "e": {"f": True}}
    assert list(string_leaves(values)) == ["x", "y", "z"]
    assert list(string_leaves("only")) == ["only"]
