"""Values between Python and Lua, with Sveltos' conversion semantics.

Into Lua (`globals_to_lua`): Kubernetes objects become plain tables, as libsveltos'
``MapToTable`` makes them. Numbers become Lua numbers (Lua 5.1 has only doubles), ``null``
fields are absent, and lists are arrays indexed from 1. Two deliberate differences from
Sveltos, which drops them: integers inside lists (``[80, 443]``) are kept, and so are nested
lists. A ``null`` inside a list leaves a hole where Sveltos closes the gap. Top-level
objects, and objects that are direct elements of a top-level list, are *tracked*: when a
result returns one of them, it comes back as the very Python object that went in (changes a
script made to it are not carried back).

Into Lua a batch at a time (`flatten`): the objects of a batch become one flat array of
scalars and three marker tables (a table begins, a list begins, it ends), which the trusted
side of the sandbox (``sandbox.lua``) builds back into tables before any script runs: the
same tables as ``MapToTable`` makes (and `globals_to_lua`), for a fraction of the crossings
of a recursive conversion. With ``fields`` (`function.lua.reach`), only the fields of those
names are kept, at every level; list elements are all kept.

Out of Lua (`from_json`): the trusted side of the sandbox (``sandbox.lua``) has already
encoded the result as JSON with raw access, following gopher-lua's ``ToGoValue``: a table
with a non-empty array part is an array of ``t[1..#t]`` (its other keys are dropped, a hole
is ``null``), any other table is an object with string keys — so an empty table is ``{}``,
never ``[]``. Numbers that are whole (below 2^63) come back as ``int``, others as ``float``.
One string crosses back per evaluation or batch, decoded by the C JSON parser, instead of a
Python call per table read.

`function.lua.runtime` calls both; nothing else touches lupa values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

INPUT_REF = "\0input"
"""Key of the marker ``sandbox.lua`` puts where a result holds a tracked input object."""


def globals_to_lua(runtime: Any, values: Mapping[str, Any]) -> tuple[Any, Any, list[Any]]:
    """``(globals table, array of tracked tables, the tracked Python objects)``."""
    tracked_tables: list[Any] = []
    tracked: list[Any] = []

    def track(obj: dict[str, Any]) -> Any:
        table = runtime.table_from(obj, recursive=True)
        tracked_tables.append(table)
        tracked.append(obj)
        return table

    converted: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            converted[name] = track(value)
        elif isinstance(value, list):
            items = [
                track(v) if isinstance(v, dict) else _scalar_or_table(runtime, v) for v in value
            ]
            converted[name] = runtime.table_from(items)
        else:
            converted[name] = value
    return runtime.table_from(converted), runtime.table_from(tracked_tables), tracked


class Markers(NamedTuple):
    """The marker tables of `flatten`, made by ``sandbox.lua``: nothing else is ever equal."""

    table: Any
    list: Any
    end: Any


def flatten(
    objects: Iterable[Mapping[str, Any]], fields: frozenset[str] | None, markers: Markers
) -> list[Any]:
    """``objects`` as one flat array for ``sandbox.lua``'s ``build``: a table is the table
    marker, its keys each followed by the value, then the end marker; a list is the list
    marker, its elements, then the end marker. ``None`` stays: it is nil in Lua (an absent
    field, a hole in a list), as the recursive conversion makes it."""
    flat: list[Any] = []
    append = flat.append
    table_marker, list_marker, end_marker = markers
    scalars = _SCALARS

    def mapping(value: Mapping[Any, Any]) -> None:
        append(table_marker)
        for key, item in value.items():
            if everything or key in kept:
                append(key)
                if type(item) in scalars:
                    append(item)
                else:
                    nested(item)
        append(end_marker)

    def sequence(value: Iterable[Any]) -> None:
        append(list_marker)
        for item in value:
            if type(item) in scalars:
                append(item)
            else:
                nested(item)
        append(end_marker)

    def nested(item: Any) -> None:
        if type(item) is dict or isinstance(item, Mapping):
            mapping(item)
        elif type(item) is list or isinstance(item, tuple):
            sequence(item)
        else:
            append(item)  # converted by lupa as the recursive conversion would

    everything, kept = fields is None, fields or frozenset()
    for obj in objects:
        mapping(obj)
    return flat


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Types `flatten` appends as they are, without a call."""


def from_json(encoded: str | None, tracked: list[Any]) -> Any:
    """A result encoded by ``sandbox.lua`` → Python values (see the module docstring)."""
    if encoded is None:
        return None
    if not tracked:
        return json.loads(encoded)

    def resolve(obj: dict[str, Any]) -> Any:
        ref = obj.get(INPUT_REF)
        if ref is not None and len(obj) == 1:
            return tracked[int(ref) - 1]
        return obj

    return json.loads(encoded, object_hook=resolve)


def _scalar_or_table(runtime: Any, value: Any) -> Any:
    if isinstance(value, list):
        return runtime.table_from(value, recursive=True)
    return value


def shape(value: Any) -> str:
    """A value out of Lua (`from_json`) described in Lua's words, for messages."""
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    return f"a number ({value})"


def reference(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """apiVersion, kind, namespace and name: how a result's copy of an input object (one a
    script rebuilt, or that lost its tracking) is told which input it stands for."""
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )
