"""The reconciler's read cache: objects of the management cluster by group, kind and name.

Informers (`function.reconciler.watch`) fill it by list+watch; reconciles read from it and
never from the API, so a thousand reconciles of an unchanged world cost no requests. Objects
are keyed by API *group* and kind, not version: a bundle may name a Cluster as v1beta1 while
the informer watches the preferred v1beta2. Heavy or secret fields are dropped on the way in
(`slim`): managedFields always, Secret data replaced by a digest so a kubeconfig change is
still seen. A fleet's bundles hold mostly the same add-ons (one bundle per cluster, composed
from one Input), so an add-on of a bundle's spec equal to one already held is held once
(`_shared_spec`; nothing writes into a stored object).
"""

from __future__ import annotations

import builtins
import hashlib
import json
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
    """The object as the store keeps it: no managedFields, Secret data only as a digest."""
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
    if obj.get("kind") == "AddonBundle" and isinstance(obj.get("spec"), dict):
        out["spec"] = _shared_spec(obj["spec"])
    return out


SHARED_ADDONS = 4096
"""Distinct add-on specs held for sharing (past that, the least recently seen is let go:
the bundles holding it keep it, new ones get a copy of their own)."""
_addons: OrderedDict[bytes, Object] = OrderedDict()


def _shared_spec(spec: Object) -> Object:
    """``spec`` with each add-on replaced by an equal one already held, if any."""
    addons = spec.get("addons")
    if not isinstance(addons, list):
        return spec
    shared = []
    for addon in addons:
        try:
            key = orjson.dumps(addon)
        except (TypeError, orjson.JSONEncodeError):
            shared.append(addon)
            continue
        held = _addons.get(key)
        if held is None:
            _addons[key] = held = addon
            while len(_addons) > SHARED_ADDONS:
                _addons.popitem(last=False)
        else:
            _addons.move_to_end(key)
        shared.append(held)
    return {**spec, "addons": shared}


def _version(obj: Object | None) -> str | None:
    return None if obj is None else str(meta(obj).get("resourceVersion"))
