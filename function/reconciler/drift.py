"""Drift: has a live object moved away from what the add-on applied? (pure)

The API server adds defaults and controllers add status, so a live object never equals what
was applied; comparing hashes of whole objects would see drift everywhere. What matters is
the intent: every field the add-on sets must still hold the value it set. `find_drift` walks
the applied object (the intent) and reports each path where the live object differs or lacks
the field — server defaults and fields set by others are ignored, as they are not in the
intent. Keyed lists (containers, env, ports, volumes, mounts) are matched by key, so entries
others add (an injected sidecar, an extra env var) are not drift; other lists are atomic and
compared element by element, so defaults inside their elements do not count.

Drift exclusions (``driftExclusions[].paths``, JSON-pointer style, optionally limited to a
target kind/name) name paths a user lets others own, e.g. ``/spec/replicas`` under an HPA.
An object annotated ``addons.aifleet.io/drift-detection-ignore: "true"`` (in its manifest,
or by hand in the workload cluster) is left out of drift detection altogether (`ignored`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from function.model.bundle import DriftExclusion
from function.model.objects import Object, group_of, meta

MISSING = "(object deleted)"
IGNORE_ANNOTATION = "addons.aifleet.io/drift-detection-ignore"


def ignored(*objects: Object | None) -> bool:
    """Whether any of ``objects`` (the intent, the live object) opts out of drift detection."""
    return any(
        obj is not None and (meta(obj).get("annotations") or {}).get(IGNORE_ANNOTATION) == "true"
        for obj in objects
    )


def find_drift(intent: Object, live: Object | None, excluded: Iterable[str] = ()) -> list[str]:
    """Paths (``/spec/replicas``) where ``live`` no longer matches ``intent``."""
    if live is None:
        return [MISSING]
    intent = _as_stored(intent)
    prefixes = tuple(p.rstrip("/") for p in excluded)
    found = []
    for key, value in intent.items():
        if key == "status":
            continue
        if key == "metadata":
            found += _metadata_drift(value, meta(live), prefixes)
        else:
            found += _drift(value, live.get(key, _ABSENT), f"/{key}", prefixes)
    return found


def _as_stored(intent: Object) -> Object:
    """A Secret as the server stores it: write-only ``stringData`` folded into ``data``."""
    string_data = intent.get("stringData")
    if intent.get("kind") != "Secret" or intent.get("apiVersion") != "v1" or not string_data:
        return intent
    data = dict(intent.get("data") or {})
    data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()})
    return {**{k: v for k, v in intent.items() if k != "stringData"}, "data": data}


def exclusions_for(obj: Object, exclusions: Sequence[DriftExclusion]) -> list[str]:
    """The excluded paths that apply to ``obj``."""
    paths: list[str] = []
    api_version = str(obj.get("apiVersion", ""))
    group, version = group_of(api_version), api_version.rpartition("/")[2]
    m = meta(obj)
    for exclusion in exclusions:
        target = exclusion.target
        if target is None or all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (target.group, group),
                (target.version, version),
                (target.kind, obj.get("kind")),
                (target.name, m.get("name")),
                (target.namespace, m.get("namespace")),
            )
        ):
            paths += exclusion.paths
    return paths


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT: Any = _Absent()


def _metadata_drift(intent: Any, live: dict[str, Any], prefixes: tuple[str, ...]) -> list[str]:
    found = []
    for key in ("labels", "annotations"):
        wanted = (intent or {}).get(key) or {}
        have = live.get(key) or {}
        for name, value in wanted.items():
            path = f"/metadata/{key}/{_escape(name)}"
            if not _excluded(path, prefixes) and have.get(name) != value:
                found.append(path)
    return found


def _drift(intent: Any, live: Any, path: str, prefixes: tuple[str, ...]) -> Iterator[str]:
    if _excluded(path, prefixes):
        return
    if isinstance(intent, dict):
        if not isinstance(live, dict):
            yield path
            return
        for key, value in intent.items():
            yield from _drift(value, live.get(key, _ABSENT), f"{path}/{_escape(key)}", prefixes)
    elif isinstance(intent, list):
        if not isinstance(live, list):
            yield path
            return
        key = _merge_key(intent)
        if key is None:  # an atomic list: exactly what was applied
            if len(live) != len(intent):
                yield path
                return
            for i, (want, have) in enumerate(zip(intent, live, strict=True)):
                yield from _drift(want, have, f"{path}/{i}", prefixes)
            return
        # A keyed list (containers, env, ports...): others may add entries, as SSA allows;
        # each entry applied must still be there and hold what was applied.
        found = {_key_of(item, key): item for item in live if isinstance(item, dict)}
        for want in intent:
            name = _key_of(want, key)
            label = "/".join(str(part) for part in name)
            yield from _drift(want, found.get(name, _ABSENT), f"{path}/{label}", prefixes)
    elif not _same_scalar(intent, live):
        yield path


_MERGE_KEYS: tuple[tuple[str, ...], ...] = (
    ("containerPort", "protocol"),
    ("port", "protocol"),
    ("mountPath",),
    ("devicePath",),
    ("name",),
)
"""Keys of the lists Kubernetes merges by key (containers, env, volumes, ports, mounts...)."""


def _merge_key(items: list[Any]) -> tuple[str, ...] | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _MERGE_KEYS:
        if all(key[0] in item for item in items):
            return key
    return None


def _key_of(item: dict[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
    # A port's protocol defaults to TCP on the server.
    return tuple(item.get(part, "TCP" if part == "protocol" else None) for part in key)


def _same_scalar(intent: Any, live: Any) -> bool:
    if intent == live:
        return True
    # Numbers travel as floats in some encodings; "1" and 1 are not the same to Kubernetes.
    numbers = (int, float)
    both_numbers = isinstance(intent, numbers) and isinstance(live, numbers)
    return both_numbers and not isinstance(intent, bool) and float(intent) == float(live)


def _excluded(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _escape(key: str) -> str:
    """JSON pointer escaping (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
