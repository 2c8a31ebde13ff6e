"""Values between Python and Lua, with Sveltos' conversion semantics.

Into Lua (`globals_to_lua`): Kubernetes objects become plain tables, as libsveltos'
``MapToTable`` makes them. Numbers become Lua numbers (Lua 5.1 has only doubles), ``null``
fields are absent, and lists are arrays indexed from 1. Two deliberate differences from
Sveltos, which drops them: integers inside lists (``[80, 443]``) are kept, and so are nested
lists. A ``null`` inside a list leaves a hole where Sveltos closes the gap. Top-level
objects, and objects that are direct elements of a top-level list, are *tracked*: when a
result returns one of them, it comes back as the very Python object that went in (changes a
script made to it are not carried back).

Out of Lua (`to_python`): the trusted side of the sandbox (``sandbox.lua``) has already
copied the result with raw access, following gopher-lua's ``ToGoValue``: a table with a
non-empty array part is an array of ``t[1..#t]`` (its other keys are dropped), any other
table is an object with string keys — so an empty table is ``{}``, never ``[]``. Numbers
that are whole come back as ``int``, others as ``float``.

`function.lua.runtime` calls both; nothing else touches lupa values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lupa.lua51 import lua_type

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


def to_python(value: Any, tracked: list[Any]) -> Any:
    """A plain result copied by ``sandbox.lua`` → Python values (see the module docstring)."""
    if lua_type(value) != "table":
        return value
    length = len(value)
    if length > 0:
        return [to_python(value[i], tracked) for i in range(1, length + 1)]
    items = dict(value.items())
    ref = items.get(INPUT_REF)
    if ref is not None and len(items) == 1:
        return tracked[int(ref) - 1]
    return {str(k): to_python(v, tracked) for k, v in items.items()}


def _scalar_or_table(runtime: Any, value: Any) -> Any:
    if isinstance(value, list):
        return runtime.table_from(value, recursive=True)
    return value
