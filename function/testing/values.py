"""Helpers over JSON values (dicts, lists, str, int, float, bool, None).

Python's ``==`` says ``1 == 1.0 == True``; the API server does not, so "did this write change
anything" and "did this field change" use `same`, which compares types too. `copy` is a fast
deep copy for JSON data. Used by `managed_fields`, `ssa`, `patches` and `apiserver`.
"""

from __future__ import annotations

import functools
import json
from typing import Any

_canonical = functools.partial(json.dumps, sort_keys=True, separators=(",", ":"))


def same(left: Any, right: Any) -> bool:
    """Deep equality that also requires equal types (``1`` is not ``1.0`` nor ``True``)."""
    if left is right:
        return True
    if type(left) is not type(right) or left != right:
        return False
    if isinstance(left, dict | list):
        return bool(_canonical(left) == _canonical(right))  # JSON tells 1, 1.0 and true apart
    return True


def copy(value: Any) -> Any:
    """A deep copy of a JSON value."""
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value
