"""Bounds on the shape of a user's object, checked before it is parsed.

Specs come from anyone who may create an XR or an AddonBundle, and free-form parts of them
(Helm values, labels, manifests) reach the composer, the protobuf codec and the reconciler
unchanged. A value nested a thousand levels deep, a megabyte label key or a list of a million
items would exhaust the recursion limit or the memory of code that trusts the parser, so
`check_shape` walks the raw data first — iteratively, so the walk itself cannot overflow — and
refuses the first part over a limit with a `SpecError` naming its field path and the limit.

`function.model.common.parse` runs it on everything it parses; `function.compose.pipeline`
runs it on an XR's spec before using the spec as a memo key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

from function.errors import SpecError

MAX_DEPTH = 24
"""Maps and lists nested inside one another below the parsed object. Helm values rarely go
beyond 12; the protobuf runtime refuses a `Struct` nested much deeper than 30."""

MAX_BUNDLE_DEPTH = MAX_DEPTH + 2
"""The same bound for AddonBundles, which hold an XR's Helm values one level deeper than the
XR does (``spec.addons[i].helm.values`` for ``spec.addons.values.<add-on>``), with room."""

MAX_STRING = 1024 * 1024
"""Characters in one string or map key: as much as one ConfigMap may hold."""

MAX_ITEMS = 4096
"""Items in one list, or keys in one map."""


def check_shape(data: Any, root: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise `SpecError` at the first part of ``data`` nested, long or wide beyond the limits."""
    stack: list[tuple[Any, int, tuple[int | str, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, loc = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                _refuse(
                    root, loc, f"a string of {len(value):,} characters", MAX_STRING, "characters"
                )
            continue
        if isinstance(value, Mapping):
            children: Iterator[tuple[int | str, Any]] = iter(value.items())
        elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            children = enumerate(value)
        else:
            continue
        if depth >= max_depth:
            _refuse(root, loc, "a value nested deeper", max_depth, "levels of maps and lists")
        if len(value) > MAX_ITEMS:
            _refuse(root, loc, f"{len(value):,} items", MAX_ITEMS, "items")
        for key, child in children:
            if isinstance(key, str) and len(key) > MAX_STRING:
                _refuse(root, loc, f"a key of {len(key):,} characters", MAX_STRING, "characters")
            stack.append((child, depth + 1, (*loc, key)))


def join_path(root: str, loc: Sequence[int | str]) -> str:
    """``("models", 0, "precision")`` under ``spec`` → ``spec.models[0].precision``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path


def _refuse(root: str, loc: Sequence[int | str], what: str, limit: int, unit: str) -> NoReturn:
    raise SpecError.at(join_path(root, loc), f"{what}; allowed: at most {limit:,} {unit}")
