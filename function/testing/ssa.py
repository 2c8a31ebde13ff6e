"""Server-side apply: merge, prune, conflicts and ownership, after structured-merge-diff.

`apply` is what kube-apiserver does with an `application/apply-patch+yaml` request once it has
the live object: merge the configuration into it (maps field by field, keyed lists item by item
in structured-merge-diff's order, atomic values replaced), remove the fields this manager
applied last time but no longer sends and nobody else owns, then compare with the live object:
every other manager that owns a field this apply adds or changes is a conflict (409 listing the
fields and managers) unless ``force``, which moves those fields to the applier. The applier's
entry becomes exactly the field set of its configuration. `apiserver` wraps this with request
handling; `managed_fields` provides the paths and entries.

Approximations: no defaulting or conversion of the applied configuration (except the defaulted
`protocol` of port keys); `null` in a configuration is stored as a value rather than treated as
a removal; unions (`x-kubernetes-unions`) are not normalised.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from function.testing.managed_fields import (
    ManagedEntry,
    Path,
    compare,
    field_set,
    flatten,
    list_element,
    path_string,
)
from function.testing.schema import KEY_DEFAULTS, ListType, SchemaNode
from function.testing.status import StatusError
from function.testing.values import copy


def merge(live: Any, config: Any, node: SchemaNode) -> Any:
    """Merge an applied configuration into a live value."""
    if isinstance(live, dict) and isinstance(config, dict) and not node.atomic_map:
        merged = dict(live)
        for key, value in config.items():
            merged[key] = merge(live[key], value, node.field(key)) if key in live else copy(value)
        return merged
    if isinstance(live, list) and isinstance(config, list):
        list_type = node.list_type
        if list_type.relation != "atomic" and (live or config):
            return _merge_list(live, config, list_type, node.item())
    return copy(config)


def _elements(items: list[Any], list_type: ListType) -> list[str]:
    elements = []
    for index, item in enumerate(items):
        element = list_element(item, list_type.relation, list_type.keys)
        elements.append(element if element is not None else f"i:{index}")
    return elements


def _merge_list(live: list[Any], config: list[Any], list_type: ListType, item: SchemaNode) -> Any:
    """Merge keyed or set lists, ordering items as structured-merge-diff does.

    Configuration items keep the configuration's order; live-only items stay where they were
    relative to the items around them.
    """
    left, right = _elements(live, list_type), _elements(config, list_type)
    left_items = dict(zip(reversed(left), reversed(live), strict=True))  # first occurrence wins
    right_items = dict(zip(reversed(right), reversed(config), strict=True))
    shared = iter([e for e in right if e in left_items])
    next_shared = next(shared, None)
    emitted: set[str] = set()
    out: list[Any] = []

    def take_right(element: str) -> None:
        emitted.add(element)
        if element in left_items:
            out.append(merge(left_items[element], right_items[element], item))
        else:
            out.append(copy(right_items[element]))

    li = ri = 0
    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            if left[li] == right[ri]:
                take_right(right[ri])
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if left[li] in right_items and next_shared is not None and next_shared != left[li]:
                li += 1
                continue
        if li < len(left):
            if left[li] not in right_items:
                out.append(live[li])
                li += 1
                continue
            if left[li] in emitted:
                li += 1
        if ri < len(right):
            take_right(right[ri])
            if next_shared == right[ri]:
                next_shared = next(shared, None)
            ri += 1
    return out


def _prefixes(paths: Iterable[Path]) -> set[Path]:
    return {path[:i] for path in paths for i in range(1, len(path))}


def remove_fields(obj: dict[str, Any], paths: Iterable[Path], keep: frozenset[Path]) -> None:
    """Remove ``paths`` from ``obj`` in place, keeping anything at or under a path in ``keep``.

    Maps and lists emptied by the removal disappear too, as structured-merge-diff's
    `RemoveItems` leaves them null.
    """
    keep_prefixes = _prefixes(keep)
    for path in sorted(paths, key=len):
        _remove(obj, path, keep, keep_prefixes)


def _child(container: Any, element: str) -> tuple[Any, Any]:
    """``(key_or_index, value)`` of a child addressed by a path element, or ``(None, None)``."""
    kind, body = element[:2], element[2:]
    if kind == "f:":
        if isinstance(container, dict) and body in container:
            return body, container[body]
        return None, None
    if not isinstance(container, list):
        return None, None
    wanted = json.loads(body)
    for index, item in enumerate(container):
        if kind == "v:" and item == wanted:
            return index, item
        if kind == "k:" and isinstance(item, dict) and _has_key(item, wanted):
            return index, item
    return None, None


def _has_key(item: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in key.items())


def _remove(obj: Any, path: Path, keep: frozenset[Path], keep_prefixes: set[Path]) -> None:
    trail: list[tuple[Any, Any]] = []
    node = obj
    for element in path:
        key, child = _child(node, element)
        if key is None:
            return
        trail.append((node, key))
        node = child
    parent, key = trail[-1]
    if path in keep_prefixes and isinstance(node, dict):
        _keep_owned(node, path, keep, keep_prefixes)
        return
    del parent[key]
    for container, container_key in reversed(trail[:-1]):
        emptied = container[container_key]
        if emptied:
            break
        del container[container_key]


def _keep_owned(
    node: dict[str, Any], path: Path, keep: frozenset[Path], prefixes: set[Path]
) -> None:
    """Strip a map or list item down to what ``keep`` owns (and an item's key fields)."""
    key_fields = set(json.loads(path[-1][2:])) if path[-1].startswith("k:") else set()
    for name in list(node):
        child_path = (*path, "f:" + name)
        if child_path in keep or name in key_fields:
            continue
        if child_path in prefixes and isinstance(node[name], dict):
            _keep_owned(node[name], child_path, keep, prefixes)
        elif child_path not in prefixes:
            del node[name]


@dataclass(frozen=True)
class ApplyResult:
    """The object after an apply and who owns what."""

    obj: dict[str, Any]
    entries: list[ManagedEntry]


def apply(
    live: dict[str, Any],
    config: dict[str, Any],
    schema: SchemaNode,
    entries: list[ManagedEntry],
    applier: ManagedEntry,
    *,
    force: bool,
    live_flat: Mapping[Path, Any] | None = None,
) -> ApplyResult:
    """Apply ``config`` (already stripped of fields the endpoint ignores) to ``live``.

    ``applier`` names the manager (operation ``Apply``) and carries the time to stamp; its
    ``fields`` are ignored. Raises a 409 `StatusError` on conflicts unless ``force``.
    ``live_flat`` is `flatten(live)` when the caller has it already. Neither ``live`` nor
    ``config`` is modified; the result may share unchanged parts with ``live``.
    """
    merged = merge(live, config, schema)
    applied = field_set(flatten(config, schema, strict=True))
    others = [e for e in entries if e.identity != applier.identity]
    last = next((e for e in entries if e.identity == applier.identity), None)
    if last is not None:
        owned = applied.union(*(e.fields for e in others))
        dropped = last.fields - owned
        if dropped:
            merged = copy(merged)
            remove_fields(merged, dropped, owned)
    before = live_flat if live_flat is not None else flatten(live, schema)
    change = compare(before, flatten(merged, schema))
    conflicts = {e.identity: e.fields & change.changed for e in others}
    conflicts = {identity: paths for identity, paths in conflicts.items() if paths}
    if conflicts and not force:
        raise conflict_error(others, conflicts)
    result: list[ManagedEntry] = []
    for entry in others:
        kept = entry.fields - conflicts.get(entry.identity, frozenset()) - change.removed
        if kept:
            result.append(entry if kept == entry.fields else replace(entry, fields=kept))
    unchanged = last is not None and last.fields == applied and not change.changed
    if not change.removed and unchanged and last is not None:
        result.append(last)
    elif applied:
        result.append(replace(applier, fields=applied))
    return ApplyResult(merged, result)


def conflict_error(
    entries: list[ManagedEntry], conflicts: Mapping[tuple[str, str, str, str], frozenset[Path]]
) -> StatusError:
    """The 409 kube-apiserver returns for apply conflicts, with one cause per field."""
    described = {e.identity: e.describe() for e in entries}
    pairs = sorted(
        (described[identity], path_string(path))
        for identity, paths in conflicts.items()
        for path in paths
    )
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": field}
        for who, field in pairs
    ]
    if len(pairs) == 1:
        message = f"Apply failed with 1 conflict: conflict with {pairs[0][0]}: {pairs[0][1]}"
    else:
        lines: list[str] = []
        for who in sorted({who for who, _ in pairs}):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {field}" for other, field in pairs if other == who)
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})
