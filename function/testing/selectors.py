"""Label and field selectors, parsed the way kube-apiserver parses them.

`labelSelector` supports equality (`a=b`, `a==b`, `a!=b`), sets (`a in (x,y)`, `a notin (x)`),
existence (`a`, `!a`) and the numeric `a>1`, `a<1`. `fieldSelector` supports `=`, `==`, `!=`
over the fields a kind allows (`metadata.name`, `metadata.namespace` and per-kind extras from
`resources`). Both are pure; `apiserver` and `watch` call `matches` on every candidate object, and
`store` uses `LabelSelector.equalities` to narrow lists through its label index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from function.testing.status import bad_request

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{_NAME}$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_TOKEN = r"(?P<key>[^\s!=<>(),]+)"
_SET_REQ = re.compile(rf"^\s*{_TOKEN}\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)\s*$")
_CMP_REQ = re.compile(rf"^\s*{_TOKEN}\s*(?P<op>==|=|!=|<|>)\s*(?P<value>[^\s,()]*)\s*$")
_EXISTS_REQ = re.compile(rf"^\s*(?P<neg>!?)\s*{_TOKEN}\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "<", ">"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies this requirement."""
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case _:
                return present and _compare_numeric(value, self.op, self.values)


def _compare_numeric(value: str | None, op: str, bound: frozenset[str]) -> bool:
    try:
        number, limit = int(value or ""), int(next(iter(bound)))
    except ValueError:
        return False
    return number > limit if op == ">" else number < limit


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed `labelSelector`: all requirements must hold."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether the labels satisfy every requirement."""
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    @property
    def equalities(self) -> list[tuple[str, str]]:
        """``(key, value)`` pairs every match must carry; what a label index can look up."""
        return [
            (req.key, next(iter(req.values)))
            for req in self.requirements
            if req.op in ("=", "in") and len(req.values) == 1
        ]


EVERYTHING = LabelSelector()


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _check_key(key: str, text: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    return key


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value; raise a 400 `StatusError` when it is malformed."""
    if not text or not text.strip():
        return EVERYTHING
    return LabelSelector(tuple(_parse_requirement(p, text) for p in _split_top_level(text)))


def _check_values(values: frozenset[str], text: str) -> frozenset[str]:
    for value in values:
        if len(value) > 63 or not _VALUE.match(value):
            raise bad_request(
                f"unable to parse requirement: invalid label value {value!r} in {text!r}"
            )
    return values


def _parse_requirement(part: str, text: str) -> Requirement:
    if found := _SET_REQ.match(part):
        values = frozenset(v.strip() for v in found["values"].split(",") if v.strip())
        return Requirement(_check_key(found["key"], text), found["op"], _check_values(values, text))
    if found := _CMP_REQ.match(part):
        op = "=" if found["op"] == "==" else found["op"]
        if op in ("<", ">") and not found["value"].lstrip("-").isdigit():
            raise bad_request(f"unable to parse requirement: {found['value']!r} is not an integer")
        values = frozenset([found["value"]])
        if op not in ("<", ">"):
            _check_values(values, text)
        return Requirement(_check_key(found["key"], text), op, values)
    if found := _EXISTS_REQ.match(part):
        op = "!" if found["neg"] else "exists"
        return Requirement(_check_key(found["key"], text), op)
    raise bad_request(f"unable to parse requirement: {part.strip()!r} in {text!r}")


def selector_from_match(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Turn a `metav1.LabelSelector` (matchLabels / matchExpressions) into a `LabelSelector`."""
    if not selector:
        return EVERYTHING
    requirements = [
        Requirement(key, "=", frozenset([str(value)]))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        op = operators[expression["operator"]]
        requirements.append(
            Requirement(expression["key"], op, frozenset(expression.get("values") or []))
        )
    return LabelSelector(tuple(requirements))


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One field requirement: ``path op value`` with ``op`` one of ``=`` and ``!=``."""

    path: str
    negate: bool
    value: str


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed `fieldSelector`: all requirements must hold."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's fields satisfy every requirement."""
        return all(
            (field_value(obj, req.path) == req.value) != req.negate for req in self.requirements
        )

    @property
    def name(self) -> str | None:
        """The single object name this selector pins, if it pins one."""
        for req in self.requirements:
            if req.path == "metadata.name" and not req.negate:
                return req.value
        return None


NO_FIELDS = FieldSelector()


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field, as field selectors compare it (missing is "")."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None, allowed: frozenset[str]) -> FieldSelector:
    """Parse a `fieldSelector`; only fields in ``allowed`` may be used (400 otherwise)."""
    if not text or not text.strip():
        return NO_FIELDS
    requirements: list[FieldRequirement] = []
    for part in text.split(","):
        found = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not found:
            raise bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        path, op, value = found.groups()
        if path not in allowed:
            raise bad_request(f'"{path}" is not a known field selector: only {_known(allowed)}')
        requirements.append(FieldRequirement(path, op == "!=", value))
    return FieldSelector(tuple(requirements))


def _known(allowed: frozenset[str]) -> str:
    return ", ".join(f'"{field}"' for field in sorted(allowed))
