"""Rendered YAML streams → Kubernetes objects, with errors that point at the line.

The last step of rendering any text (inline ``manifests``, a ``manifestsFrom`` data key, a
Helm template's output) is parsing a YAML stream into objects. `parse_objects` does it with a
loader that keeps what Kubernetes would keep (timestamps stay strings) and checks each document
is an object with ``apiVersion``, ``kind`` and ``metadata.name``, holding only JSON values.

`manifest_templates` turns one ConfigMap or Secret that a ``manifestsFrom`` entry names into
``{label: template text}``, with labels such as ``ConfigMap team-a/extra:app.yaml`` that
`function.reconciler.render` uses as the file name in errors. The reconciler reads the objects;
this module only interprets them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from function.errors import RenderError, SourceLocation
from function.model.bundle import ManifestSource, SourceKind
from function.model.objects import load_yaml_documents


def parse_objects(text: str, location: SourceLocation) -> list[dict[str, Any]]:
    """The Kubernetes objects of a YAML stream; empty documents are skipped."""
    objects: list[dict[str, Any]] = []
    for line, value in load_yaml_documents(text, location):
        problem = _object_problem(value)
        if problem:
            raise _error(location, line, problem)
        objects.append(value)
    return objects


def _object_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"a document must be a Kubernetes object, not {_type_name(value)}"
    for key in ("apiVersion", "kind"):
        if not isinstance(value.get(key), str) or not value[key]:
            return f"the object has no {key}"
    metadata = value.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return f"the {value['kind']} has no metadata.name"
    if not metadata["name"]:
        return f"the {value['kind']} has an empty metadata.name"
    path = _non_json_path(value, "")
    if path is not None:
        return f"{value['kind']} {metadata['name']}: {path} is not a JSON value"
    return None


def _non_json_path(value: Any, path: str) -> str | None:
    """Where ``value`` holds something JSON cannot carry (a bool key, a date, binary)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}.{key!r} (a {_type_name(key)} key; quote it)"
            found = _non_json_path(item, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _non_json_path(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{path or 'the document'} (a {_type_name(value)})"


def _type_name(value: Any) -> str:
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _error(location: SourceLocation, line: int | None, reason: str) -> RenderError:
    return RenderError(SourceLocation(location.addon, location.file, line), reason)


# --- manifestsFrom ------------------------------------------------------------------------


def source_label(kind: SourceKind | str, namespace: str, name: str, key: str) -> str:
    """How errors name one data key of a ConfigMap or Secret: ``ConfigMap ns/name:key``."""
    return f"{SourceKind(kind).value} {namespace}/{name}:{key}"


def manifest_templates(
    source: ManifestSource,
    obj: Mapping[str, Any] | None,
    *,
    addon: str,
    default_namespace: str,
) -> dict[str, str]:
    """The templates one ``manifestsFrom`` entry contributes, keyed by `source_label`.

    ``obj`` is the ConfigMap or Secret as read (``None`` when it does not exist); data keys
    come in sorted order, Secret values base64-decoded. A missing object is an error unless
    the entry is ``optional``.
    """
    namespace = source.namespace or default_namespace
    if obj is None:
        if source.optional:
            return {}
        where = SourceLocation(addon, f"{source.kind.value} {namespace}/{source.name}")
        raise RenderError(where, f"the {source.kind.value} does not exist")
    data: Mapping[str, str] = obj.get("data") or {}
    templates: dict[str, str] = {}
    for key in sorted(data):
        label = source_label(source.kind, namespace, source.name, key)
        templates[label] = (
            _decode_secret_value(data[key], SourceLocation(addon, label))
            if source.kind is SourceKind.SECRET
            else data[key]
        )
    return templates


def _decode_secret_value(value: str, location: SourceLocation) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise RenderError(location, "the Secret value is not base64-encoded UTF-8 text") from None
