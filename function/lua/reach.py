"""Which fields of an object an event rule can read, from its text alone.

Converting a whole object into Lua (a Deployment with its managed fields and pod template)
costs far more than a typical rule's evaluation, and most of it is never read: a rule that
reads ``obj.status.availableReplicas`` never sees ``metadata.managedFields``. A field can be
read only by its name, so when a script reaches fields by literal names alone — ``a.b``,
``a["b"]``, ``a[1]`` — and never enumerates a table (``pairs``, ``next``), indexes by a
computed value, reads raw or through metatables, or hands a table to a helper that reads it
(``getLabel``, ``json``, ...), a field whose name appears nowhere in the script's text is
unreachable. `reachable_names` finds those names, or None when the script could reach any
field; `function.lua.convert.flatten` keeps only them at every level (lists keep every
element), so the rule sees exactly the values it would have seen in the whole object.
"""

from __future__ import annotations

import re
from functools import lru_cache

_LEXEMES = re.compile(
    r"""--\[(?P<ceq>=*)\[.*?\](?P=ceq)\]"""  # long comment
    r"""|--[^\n]*"""  # line comment
    r"""|\[(?P<seq>=*)\[(?P<long>.*?)\](?P=seq)\]"""  # long string
    r"""|"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'"""  # quoted strings (no escapes: see below)
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<other>.)""",
    re.DOTALL,
)
_LITERAL_INDEX = re.compile(r"\[\s*(?:\0|\d+)\s*\]")
_ENUMERATING = frozenset(
    {
        "pairs", "next", "rawget", "setmetatable", "getmetatable", "_G", "require",
        "getLabel", "getAnnotation", "getResource", "json",
    }
)  # fmt: skip


@lru_cache(maxsize=512)
def reachable_names(source: str) -> frozenset[str] | None:
    """The names a script can read fields by, or None when it may read any field."""
    if "\\" in source:
        return None  # an escape in a string literal could spell any name
    names: set[str] = set()
    code: list[str] = []
    for lexeme in _LEXEMES.finditer(source):
        group = lexeme.lastgroup
        if group in ("long", "dq", "sq"):
            names.add(lexeme.group(group) or "")
            code.append("\0")
        elif group == "seq":
            names.add(lexeme.group("long") or "")
            code.append("\0")
        elif group == "name":
            name = lexeme.group("name")
            if name in _ENUMERATING:
                return None
            names.add(name)
            code.append(name)
        elif group == "other":
            code.append(lexeme.group("other"))
        else:
            code.append(" ")  # a comment
    text = "".join(code)
    if text.count("[") != len(_LITERAL_INDEX.findall(text)):
        return None  # an index by a computed value
    return frozenset(names)
