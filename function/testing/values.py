"""Helpers over JSON values (dicts, lists, str, int, float, bool, None).

Python's ``==`` says ``1 == 1.0 == True``; the API server does not, so "did this write change
anything" and "did this field change" use `same`, which compares types too. `copy` is a fast
deep copy for JSON data. Used by `managed_fields`, `ssa`, `patches` and `apiserver`.
"""

from __future__ import annotations

from typing import Any


def same(left: Any, right: Any) -> bool:
    """Deep equality that also requires equal types (``1`` is not ``1.0`` nor ``True``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def copy(value: Any) -> Any:
    """A deep copy of a JSON value."""
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value
