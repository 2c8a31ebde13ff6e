"""The Python half of the Lua helpers: JSON and YAML codecs and Go's Unicode-aware strings.

``helpers.lua`` and ``strings.lua`` define Sveltos' helpers for Lua scripts; what Lua cannot
do well on its own (JSON and YAML, Unicode case mapping and white space) they delegate to the
callables built here, one set per Lua state by `python_helpers`. Scripts never hold these
callables: the Lua wrappers keep them as upvalues, pass them only strings or plain tables
prepared with raw access, and turn any failure into ``nil, message``. So every callable here
returns a string, a boolean, a Lua table made by the state's own runtime, or
``(None, message)``; nothing of Python crosses back. `function.lua.runtime` is the only
caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from lupa.lua51 import lua_type

from function.errors import RenderError, SourceLocation
from function.model.objects import load_yaml_documents

GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
"""Go's ``unicode.IsSpace``: what ``strings.TrimSpace`` and ``strings.Fields`` cut on."""

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_HTML_ESCAPES["\u2029"] = "\\u2029"

Failure = tuple[None, str]


def python_helpers(runtime: Any) -> dict[str, Callable[..., Any]]:
    """The callables behind the Lua helpers, building their tables in ``runtime``'s state."""

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict | list):
            return runtime.table_from(value, recursive=True)
        return value

    def json_decode(text: str) -> Any:
        try:
            return to_lua(json.loads(text, parse_constant=_refuse_constant))
        except ValueError as err:
            return None, str(err)

    def yaml_decode(text: str) -> Any:
        try:
            documents = load_yaml_documents(text, SourceLocation("lua", "fromYAML"))
            return to_lua(next(iter(documents), (0, None))[1])
        except RenderError as err:
            return None, err.reason

    return {
        "json_decode": json_decode,
        "json_encode": _guarded(json_encode),
        "yaml_decode": yaml_decode,
        "yaml_encode": _guarded(yaml_encode),
        "equal_fold": lambda a, b: _simple_fold(a) == _simple_fold(b),
        "fields": lambda s: runtime.table_from(_fields(s)),
        "lower": lambda s: _simple_case(s, str.lower),
        "upper": lambda s: _simple_case(s, str.upper),
        "title": go_title,
        "trim_space": lambda s: s.strip(GO_SPACE),
    }


def json_encode(ready: Any) -> str:
    """JSON as Go's ``json.Marshal`` writes it: compact, sorted keys, HTML-safe escapes."""
    text = json.dumps(
        json_value(ready),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    for char, escape in _HTML_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def yaml_encode(ready: Any) -> str:
    """YAML as ``sigs.k8s.io/yaml`` writes it from JSON: block style, sorted keys."""
    return yaml.safe_dump(
        json_value(ready), sort_keys=True, default_flow_style=False, allow_unicode=True
    )


def json_value(value: Any) -> Any:
    """A table checked by ``json_ready`` in Lua → Python; an empty table is an empty array."""
    if lua_type(value) != "table":
        return value
    if len(value) > 0:
        return [json_value(value[i]) for i in range(1, len(value) + 1)]
    items = {str(k): json_value(v) for k, v in value.items()}
    return items or []


def go_title(s: str) -> str:
    """Go's ``strings.Title``: the first letter of every word upper-cased, the rest kept."""
    out: list[str] = []
    previous = " "
    for char in s:
        out.append(_simple_case(char, str.upper) if _is_separator(previous) else char)
        previous = char
    return "".join(out)


def _guarded(encode: Callable[[Any], str]) -> Callable[[Any], str | Failure]:
    def guarded(ready: Any) -> str | Failure:
        try:
            return encode(ready)
        except (ValueError, RecursionError) as err:
            return None, f"cannot encode: {err}"

    return guarded


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _simple_case(s: str, convert: Callable[[str], str]) -> str:
    """Per-character mapping as Go does it: a character whose mapping is longer stays."""
    if s.isascii():
        return convert(s)
    return "".join(c if len(m := convert(c)) != 1 else m for c in s)


def _simple_fold(s: str) -> str:
    return _simple_case(_simple_case(s, str.upper), str.lower)


def _fields(s: str) -> list[str]:
    fields: list[str] = []
    start: int | None = None
    for i, char in enumerate(s):
        if char in GO_SPACE:
            if start is not None:
                fields.append(s[start:i])
            start = None
        elif start is None:
            start = i
    if start is not None:
        fields.append(s[start:])
    return fields


def _is_separator(char: str) -> bool:
    """Go's word separator for ``Title``: not a letter, digit or underscore; ASCII
    punctuation and white space are separators, other symbols are not."""
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char in GO_SPACE
