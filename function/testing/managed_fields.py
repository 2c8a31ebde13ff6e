"""Field ownership: paths, field sets, `metadata.managedFields` and tracking of updates.

A *path* is a tuple of structured-merge-diff path elements as they appear in `fieldsV1`:
``f:<field>``, ``k:<json of the item's key fields>`` for items of keyed lists, ``v:<json>``
for items of sets. `flatten` walks an object beside its `schema` node and returns every path
with its leaf value (or a marker for maps and list items); the *field set* of an applied
configuration is its leaves plus its list items, exactly as structured-merge-diff's
`ToFieldSet`. The fields the API server never tracks (`apiVersion`, `kind`, `metadata.name`,
`uid`, `resourceVersion`, ...) are skipped.

`ManagedEntry` is one `managedFields` entry; `encode`/`decode` convert field sets to and from
`fieldsV1`. `track_update` is the bookkeeping of non-apply writes (create, PUT, patches): the
writer takes the fields it added or changed, everyone loses the fields that were removed. `ssa`
builds on these for apply.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from function.testing.schema import SchemaNode, item_key
from function.testing.values import same

Path = tuple[str, ...]

CONTAINER = type("Container", (), {"__repr__": lambda self: "<map>"})()
ITEM = type("Item", (), {"__repr__": lambda self: "<item>"})()

UNTRACKED_METADATA = frozenset(
    {
        "name",
        "namespace",
        "generateName",
        "creationTimestamp",
        "selfLink",
        "uid",
        "generation",
        "managedFields",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)


class KeyFieldError(ValueError):
    """An object cannot be tracked: a keyed-list item lacks a key field or repeats a key."""


_quote = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses for strings


def _dumps(value: Any) -> str:
    """Compact JSON with sorted keys (fast paths for the strings and ints keys are made of)."""
    if isinstance(value, str):
        return str(_quote(value))
    if type(value) is int:
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(k)}:{_dumps(value[k])}" for k in sorted(value)) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def list_element(item: Any, relation: str, keys: tuple[str, ...]) -> str | None:
    """The path element of a list item: ``k:{...}`` or ``v:...``; None when keys are missing."""
    if relation == "set":
        return "v:" + _dumps(item)
    key = item_key(item, keys)
    return None if key is None else "k:" + _dumps(key)


def flatten(obj: Mapping[str, Any], schema: SchemaNode, *, strict: bool = False) -> dict[Path, Any]:
    """Every tracked path of an object with its value (`CONTAINER`/`ITEM` for non-leaves).

    ``strict`` rejects keyed-list items with missing or repeated keys (applied configurations);
    stored objects are walked leniently, keeping the first of duplicates.
    """
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            meta_schema = schema.field("metadata")
            for meta_key, meta_value in value.items():
                if meta_key not in UNTRACKED_METADATA:
                    path = ("f:metadata", "f:" + meta_key)
                    _walk(meta_value, meta_schema.field(meta_key), path, out, strict)
            continue
        _walk(value, schema.field(key), ("f:" + key,), out, strict)
    return out


def _walk(value: Any, node: SchemaNode, path: Path, out: dict[Path, Any], strict: bool) -> None:
    if isinstance(value, dict):
        if node.atomic_map:
            out[path] = value
            return
        out[path] = CONTAINER
        for key, child in value.items():
            _walk(child, node.field(key), (*path, "f:" + key), out, strict)
        return
    if isinstance(value, list):
        list_type = node.list_type
        if list_type.relation == "atomic" or not value:
            out[path] = value
            return
        out[path] = CONTAINER
        item_node = node.item()
        for item in value:
            element = list_element(item, list_type.relation, list_type.keys)
            if element is None:
                if strict:
                    raise KeyFieldError(
                        f"{path_string(path)}: associative list with keys "
                        f"{list(list_type.keys)} has an element that omits key field"
                    )
                continue
            item_path = (*path, element)
            if item_path in out:
                if strict:
                    raise KeyFieldError(f"duplicate entries for key {path_string(item_path)}")
                continue
            if list_type.relation == "set":
                out[item_path] = item
                continue
            out[item_path] = ITEM
            for key, child in item.items():
                _walk(child, item_node.field(key), (*item_path, "f:" + key), out, strict)
        return
    out[path] = value


def field_set(flat: Mapping[Path, Any]) -> frozenset[Path]:
    """The paths an applier owns: leaves and list items, not the maps between them."""
    return frozenset(path for path, value in flat.items() if value is not CONTAINER)


@dataclass(frozen=True, slots=True)
class Comparison:
    """What changed between two flattened objects."""

    added: frozenset[Path]
    modified: frozenset[Path]
    removed: frozenset[Path]

    @property
    def changed(self) -> frozenset[Path]:
        """Added or modified paths: what a writer takes ownership of."""
        return self.added | self.modified


def compare(old: Mapping[Path, Any], new: Mapping[Path, Any]) -> Comparison:
    """Added, modified (leaves whose value changed) and removed paths."""
    added = frozenset(p for p in new if p not in old)
    removed = frozenset(p for p in old if p not in new)
    modified = frozenset(
        p for p, v in new.items() if p in old and old[p] is not v and not same(old[p], v)
    )
    return Comparison(added, modified, removed)


def path_string(path: Path) -> str:
    """How kube-apiserver prints a path: ``.spec.containers[name="app"].image``."""
    parts: list[str] = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + body)
        elif kind == "k:":
            key = json.loads(body)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]")
        else:
            parts.append(f"[={body}]")
    return "".join(parts)


def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """A field set as `fieldsV1` (a trie; ``.`` marks a member that also has children).

    The result is shared between callers (cached); treat it as read-only.
    """
    return _encode(frozenset(paths))


@functools.lru_cache(maxsize=4096)
def _encode(owned: frozenset[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in owned:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    for path in owned:
        node = root
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted(node[key]) for key in sorted(node, key=lambda k: (k != ".", k))}


def decode(fields: Mapping[str, Any], prefix: Path = ()) -> frozenset[Path]:
    """The field set a `fieldsV1` trie describes."""
    paths: set[Path] = set()
    for element, child in fields.items():
        if element == ".":
            paths.add(prefix)
        elif not child:
            paths.add((*prefix, element))
        else:
            paths |= decode(child, (*prefix, element))
    return frozenset(paths)


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """One `metadata.managedFields` entry."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str
    fields: frozenset[Path]
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Entries with the same identity are one manager (appliers are not versioned)."""
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, self.subresource, version)

    def describe(self) -> str:
        """How conflict messages name this manager."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> dict[str, Any]:
        """The entry as served."""
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ManagedEntry:
        """Parse a served entry."""
        return cls(
            manager=entry.get("manager", ""),
            operation=entry.get("operation", "Update"),
            api_version=entry.get("apiVersion", ""),
            time=entry.get("time", ""),
            fields=decode(entry.get("fieldsV1") or {}),
            subresource=entry.get("subresource", ""),
        )


def encode_entries(entries: Iterable[ManagedEntry]) -> list[dict[str, Any]]:
    """Entries in the API server's order: operation, time, manager, apiVersion, subresource."""
    ordered = sorted(
        entries, key=lambda e: (e.operation, e.time, e.manager, e.api_version, e.subresource)
    )
    return [entry.to_json() for entry in ordered]


def decode_entries(obj: Mapping[str, Any]) -> list[ManagedEntry]:
    """The entries of an object's `metadata.managedFields`."""
    return [ManagedEntry.from_json(e) for e in obj.get("metadata", {}).get("managedFields") or []]


def track_update(
    entries: Iterable[ManagedEntry], change: Comparison, writer: ManagedEntry
) -> list[ManagedEntry]:
    """Ownership after a non-apply write described by ``change``.

    The writer (identified by ``writer.identity``) takes every added or modified path; every
    manager loses the paths that were removed and those the writer took. Entries left empty are
    dropped. The writer's entry carries ``writer.time`` when it changed.
    """
    taken = change.changed
    result: list[ManagedEntry] = []
    previous: ManagedEntry | None = None
    for entry in entries:
        if entry.identity == writer.identity:
            previous = entry
            continue
        kept = entry.fields - taken - change.removed
        if kept:
            result.append(entry if kept == entry.fields else replace(entry, fields=kept))
    mine = ((previous.fields if previous else frozenset()) - change.removed) | taken
    if mine:
        unchanged = previous is not None and not taken and mine == previous.fields
        result.append(previous if unchanged and previous else replace(writer, fields=mine))
    return result
