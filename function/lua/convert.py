"""Values between Python and Lua, with Sveltos' conversion semantics.

Into Lua (`globals_to_lua`): Kubernetes objects become plain tables, as libsveltos'
``MapToTable`` makes them. Numbers become Lua numbers (Lua 5.1 has only doubles), ``null``
fields are absent, and lists are arrays indexed from 1. Two deliberate differences from
Sveltos, which drops them: integers inside lists (``[80, 443]``) are kept, and so are nested
lists. A ``null`` inside a list leaves a hole where Sveltos closes the gap. Top-level
objects, and objects that are direct elements of a top-level list, are *tracked*: when a
result returns one of them, it comes back as the very Python object that went in (changes a
script made to it are not carried back).

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
from collections.abc import Mapping
from typing import Any

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
