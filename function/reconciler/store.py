"""The reconciler's read cache: objects of the management cluster by group, kind and name.

Informers (`function.reconciler.watch`) fill it by list+watch; reconciles read from it and
never from the API, so a thousand reconciles of an unchanged world cost no requests. Objects
are keyed by API *group* and kind, not version: a bundle may name a Cluster as v1beta1 while
the informer watches the preferred v1beta2. Heavy or secret fields are dropped on the way in
(`slim`): managedFields always, Secret data replaced by a digest so a kubeconfig change is
still seen. A fleet's bundles hold mostly the same add-ons (one bundle per cluster, composed
from one Input), so an add-on of a bundle's spec equal to one already held is held once
(`_shared_spec`). The rest of an object is held the same way in small pieces (`share`): its
strings interned, and each small list or dict (a condition, an owner reference, an add-on's
status entry, a list of kinds) equal to one already held replaced by it, since a fleet's
Clusters, bundles and their statuses repeat the same pieces cluster after cluster. Nothing
writes into a stored object, so sharing is invisible to readers.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sys
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from function.model.objects import Object, group_of, meta

DATA_DIGEST = "aifleet.io/data-digest"
"""Annotation the store puts on Secrets in place of their data."""


@dataclass(frozen=True, slots=True, order=True)
class GroupKind:
    """A kind across its versions."""

    group: str
    kind: str

    @classmethod
    def of(cls, api_version: str, kind: str) -> GroupKind:
        """The GroupKind of ``apiVersion`` and ``kind``."""
        return cls(group_of(api_version), kind)

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True, slots=True, order=True)
class ObjectId:
    """One object, independent of the version it is served at."""

    gk: GroupKind
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Object) -> ObjectId:
        """The id of a served object."""
        m = meta(obj)
        gk = GroupKind.of(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        return cls(gk, str(m.get("namespace") or ""), str(m["name"]))

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.gk.kind} {where}{self.name}"


class Store:
    """Objects by `GroupKind`, then by (namespace, name)."""

    def __init__(self) -> None:
        self._objects: dict[GroupKind, dict[tuple[str, str], Object]] = {}

    def get(self, gk: GroupKind, namespace: str, name: str) -> Object | None:
        """The cached object, or None."""
        return self._objects.get(gk, {}).get((namespace, name))

    def get_id(self, oid: ObjectId) -> Object | None:
        """The cached object with this id, or None."""
        return self.get(oid.gk, oid.namespace, oid.name)

    def list(self, gk: GroupKind, namespace: str | None = None) -> Iterator[Object]:
        """Cached objects of a kind, in one namespace or all."""
        for (ns, _), obj in self._objects.get(gk, {}).items():
            if namespace is None or ns == namespace:
                yield obj

    def put(self, obj: Object) -> Object | None:
        """Store ``obj``; return what it replaced."""
        oid = ObjectId.of(obj)
        kind = self._objects.setdefault(oid.gk, {})
        old = kind.get((oid.namespace, oid.name))
        kind[(oid.namespace, oid.name)] = obj
        return old

    def remove(self, obj: Object) -> Object | None:
        """Forget ``obj``; return what was stored."""
        oid = ObjectId.of(obj)
        return self._objects.get(oid.gk, {}).pop((oid.namespace, oid.name), None)

    def replace(
        self, gk: GroupKind, objects: builtins.list[Object], namespace: str | None = None
    ) -> tuple[builtins.list[Object], builtins.list[Object]]:
        """Swap in a fresh list of a kind (of one namespace: the others are kept, as another
        informer lists them); return (changed or new, deleted) objects."""
        fresh = {(str(meta(o).get("namespace") or ""), str(meta(o)["name"])): o for o in objects}
        old = self._objects.get(gk, {})
        if namespace is not None:
            old = {key: o for key, o in old.items() if key[0] == namespace}
            kept = {key: o for key, o in self._objects.get(gk, {}).items() if key[0] != namespace}
            self._objects[gk] = kept | fresh
        else:
            self._objects[gk] = fresh
        changed = [o for key, o in fresh.items() if _version(old.get(key)) != _version(o)]
        deleted = [o for key, o in old.items() if key not in fresh]
        return changed, deleted

    def count(self, gk: GroupKind) -> int:
        """How many objects of a kind are cached."""
        return len(self._objects.get(gk, {}))


def slim(obj: Object) -> Object:
    """The object as the store keeps it: no managedFields, Secret data only as a digest, its
    pieces shared with equal ones already held."""
    m: dict[str, Any] = dict(meta(obj))
    m.pop("managedFields", None)
    out = dict(obj)
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        payload = json.dumps(obj.get("data") or {}, sort_keys=True).encode()
        m["annotations"] = {
            **(m.get("annotations") or {}),
            DATA_DIGEST: hashlib.sha256(payload).hexdigest(),
        }
        out.pop("data", None)
        out.pop("stringData", None)
    out["metadata"] = m
    kept: Object = {}
    for key, value in out.items():
        bundle_spec = key == "spec" and obj.get("kind") == "AddonBundle" and isinstance(value, dict)
        kept[_intern(key)] = _shared_spec(value) if bundle_spec else share(value)
    return kept


SHARED_BYTES = 512
"""Lists and dicts up to this size in JSON are shared (`share`); a larger one is not, as
it is seldom repeated whole (its pieces are)."""
SHARED_PIECES = 65536
"""Distinct small pieces held for sharing (past that, the least recently seen is let go)."""
_pieces: dict[int, Any] = {}
"""Shared pieces by the hash of their JSON (verified on a hit: equal JSON, equal piece)."""
_intern = sys.intern


def share(value: Any) -> Any:
    """``value`` (decoded JSON) rebuilt from pieces already held where they are equal: its
    strings interned, each list or dict of at most `SHARED_BYTES` of JSON the one held."""
    kind = type(value)
    if kind is str:
        return _intern(value)
    if kind is dict or kind is list:
        return _share(value)[0]
    return value


def _share(value: dict[str, Any] | list[Any]) -> tuple[Any, bool]:
    """The shared form of a dict or list, and whether it is small enough to be shared whole."""
    small = True
    fresh: Any
    if isinstance(value, dict):
        fresh = {}
        for k, v in value.items():
            kind = type(v)
            if kind is str:
                v = _intern(v)
            elif kind is dict or kind is list:
                v, fits = _share(v)
                small = small and fits
            fresh[_intern(k)] = v
    else:
        fresh = []
        for v in value:
            kind = type(v)
            if kind is str:
                v = _intern(v)
            elif kind is dict or kind is list:
                v, fits = _share(v)
                small = small and fits
            fresh.append(v)
    if not small:
        return fresh, False
    try:
        text = orjson.dumps(fresh)
    except (TypeError, orjson.JSONEncodeError):
        return fresh, False
    if len(text) > SHARED_BYTES:
        return fresh, False
    key = hash(text)
    held = _pieces.pop(key, None)
    if held is not None and orjson.dumps(held) == text:
        _pieces[key] = held  # the most recently seen last
        return held, True
    _pieces[key] = fresh
    if len(_pieces) > SHARED_PIECES:
        del _pieces[next(iter(_pieces))]
    return fresh, True


SHARED_ADDONS = 4096
"""Distinct add-on specs held for sharing (past that, the least recently seen is let go:
the bundles holding it keep it, new ones get a copy of their own)."""
_addons: OrderedDict[bytes, Object] = OrderedDict()


def _shared_spec(spec: Object) -> Object:
    """``spec`` shared (`share`), each add-on replaced by an equal one already held, if any."""
    return {
        _intern(k): _shared_addons(v) if k == "addons" and isinstance(v, list) else share(v)
        for k, v in spec.items()
    }


def _shared_addons(addons: list[Any]) -> list[Any]:
    held_addons = []
    for addon in addons:
        try:
            key = orjson.dumps(addon)
        except (TypeError, orjson.JSONEncodeError):
            held_addons.append(share(addon))
            continue
        held = _addons.get(key)
        if held is None:
            _addons[key] = held = share(addon)
            while len(_addons) > SHARED_ADDONS:
                _addons.popitem(last=False)
        else:
            _addons.move_to_end(key)
        held_addons.append(held)
    return held_addons


def _version(obj: Object | None) -> str | None:
    return None if obj is None else str(meta(obj).get("resourceVersion"))
