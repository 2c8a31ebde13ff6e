"""The three non-apply patch types: JSON merge, JSON, and strategic merge patch.

* `merge_patch`: RFC 7386 (`application/merge-patch+json`), exact.
* `json_patch`: RFC 6902 (`application/json-patch+json`) through the `jsonpatch` library.
* `strategic_merge_patch` (`application/strategic-merge-patch+json`, built-in kinds only):
  maps merge, ``null`` deletes; lists that the built-in schema keys (`schema.BuiltinNode`) merge
  by their first key (kube's `patchMergeKey`: `name`, `containerPort`, `type`, ...), new items
  appended; `metadata.finalizers` is a union; other lists are replaced. The directives
  ``$patch: replace|delete`` (maps and list items), ``$retainKeys`` and
  ``$deleteFromPrimitiveList/<field>`` are honoured; ``$setElementOrder/<field>`` is accepted
  and ignored (item order is not changed). Approximation: per-field patch strategies that differ
  from the SSA list type are not modelled.

All functions return a new value and never mutate their inputs. `apiserver` calls them.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from function.testing.managed_fields import list_element
from function.testing.schema import BuiltinNode
from function.testing.status import StatusError, bad_request
from function.testing.values import copy


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch; 400 for a malformed patch, 422 when an operation fails."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.JsonPatchException, TypeError, KeyError) as err:
        raise bad_request(f"invalid json patch: {err}") from err
    try:
        result = patch.apply(copy(target))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise StatusError(422, "Invalid", f"the server rejected our request: {err}") from err
    if not isinstance(result, dict):
        raise StatusError(422, "Invalid", "json patch must leave an object")
    return result


_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Any, patch: Any, node: BuiltinNode | None = None) -> Any:
    """Strategic merge patch of a built-in object (see the module docstring)."""
    node = node or BuiltinNode()
    if not isinstance(patch, dict):
        return copy(patch)
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "replace" or not isinstance(target, dict):
        return _strip_directives(body)
    result = dict(target)
    for key, value in body.items():
        if key.startswith(_ORDER) or key == _RETAIN:
            continue
        if key.startswith(_DELETE_PRIMITIVES):
            field = key[len(_DELETE_PRIMITIVES) :]
            result[field] = [v for v in result.get(field) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        child = node.field(key)
        current = result.get(key)
        if isinstance(value, list) and isinstance(current, list):
            result[key] = _merge_list(current, value, child)
        else:
            merged = strategic_merge_patch(current, value, child)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if _RETAIN in body:
        retained = set(body[_RETAIN])
        result = {k: v for k, v in result.items() if k in retained}
    return result


def _merge_list(current: list[Any], patch: list[Any], node: BuiltinNode) -> list[Any]:
    list_type = node.list_type
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not _is_directive_item(i, "replace")]
    if list_type.relation == "set":
        return current + [copy(v) for v in patch if v not in current]
    if list_type.relation != "map":
        return [_strip_directives(i) for i in patch]
    # SMP merges by the field's one patchMergeKey (container ports by containerPort alone), not
    # by every list-map key as server-side apply does: kube-apiserver's own behaviour
    # (kubernetes/kubernetes#39188, #103544).
    merge_key = list_type.keys[:1]
    result = list(current)
    positions = {list_element(item, "map", merge_key): i for i, item in enumerate(current)}
    deleted: set[int] = set()
    for item in patch:
        element = list_element(item, "map", merge_key)
        position = positions.get(element)
        if _is_directive_item(item, "delete"):
            if position is not None:
                deleted.add(position)
        elif position is None:
            result.append(_strip_directives(item))
        else:
            result[position] = strategic_merge_patch(current[position], item, node.item())
    return [item for i, item in enumerate(result) if i not in deleted]


def _is_directive_item(item: Any, directive: str) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == directive


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
