"""One cluster's object store: objects, indexes, resourceVersions and watch history.

Objects are kept per resource (``(group, plural)``) in a `ResourceStore` with O(1) lookup by
``(namespace, name)``, an index per namespace, an index per label ``key=value`` (used to narrow
label-selected lists), a bounded history of events for watches that resume from a
resourceVersion, and the set of open watchers. The `Store` hands out one monotonic
resourceVersion sequence per cluster (etcd's revision), indexes owners for garbage collection
and counts objects per namespace so that a terminating namespace knows when it is empty.

A `Stored` object is immutable once committed: its dict is never mutated again and its JSON is
encoded once and reused for every response, list and watch event. The store has no API
semantics; `apiserver` decides what to write. Everything here runs on the fleet's event loop.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from function.testing.managed_fields import ManagedEntry, Path, decode_entries, flatten
from function.testing.resources import ResourceType
from function.testing.schema import SchemaNode
from function.testing.selectors import LabelSelector

ObjectKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
ObjectRef = tuple[tuple[str, str], str, str]  # ((group, plural), namespace, name)


class Stored:
    """A committed object: its dict, resourceVersion and what is derived from it, cached.

    The JSON encoding, the flattened field paths and the decoded `managedFields` are computed
    at most once per object version, since the object never changes.
    """

    __slots__ = ("_entries", "_flat", "_json", "obj", "rv")

    def __init__(self, obj: dict[str, Any], rv: int) -> None:
        self.obj = obj
        self.rv = rv
        self._json: bytes | None = None
        self._flat: dict[str, dict[Path, Any]] = {}
        self._entries: list[ManagedEntry] | None = None

    def flattened(self, version: str, schema: SchemaNode) -> dict[Path, Any]:
        """`managed_fields.flatten` of the object under the schema of one served version."""
        flat = self._flat.get(version)
        if flat is None:
            flat = self._flat[version] = flatten(self.obj, schema)
        return flat

    def entries(self) -> list[ManagedEntry]:
        """The object's decoded `managedFields`."""
        if self._entries is None:
            self._entries = decode_entries(self.obj)
        return list(self._entries)

    @property
    def namespace(self) -> str:
        """The namespace ("" for cluster-scoped objects)."""
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def name(self) -> str:
        """The name."""
        return str(self.obj["metadata"]["name"])

    @property
    def labels(self) -> dict[str, str]:
        """The labels (empty when none)."""
        labels: dict[str, str] = self.obj["metadata"].get("labels") or {}
        return labels

    def to_json(self, api_version: str | None = None) -> bytes:
        """The JSON encoding, with ``apiVersion`` rewritten when served under another version."""
        if self._json is None:
            self._json = json.dumps(self.obj, separators=(",", ":")).encode()
        if api_version is None or api_version == self.obj["apiVersion"]:
            return self._json
        head = len(json.dumps({"apiVersion": self.obj["apiVersion"]}, separators=(",", ":"))) - 1
        return b'{"apiVersion":' + json.dumps(api_version).encode() + self._json[head:]


@dataclass(frozen=True, slots=True)
class Event:
    """A change to one object: ``ADDED``, ``MODIFIED`` or ``DELETED`` at resourceVersion ``rv``."""

    type: str
    rv: int
    obj: Stored
    previous: Stored | None


class Watcher(Protocol):
    """Something that receives the events of one resource (`watch.WatchStream`)."""

    def offer(self, event: Event) -> None:
        """Take an event (filtering is the watcher's business)."""

    def close(self) -> None:
        """End the watch: the resource stopped being served."""


@dataclass
class ResourceStore:
    """The objects of one resource, with their indexes, history and watchers."""

    resource_type: ResourceType
    history_limit: int
    objects: dict[ObjectKey, Stored] = field(default_factory=dict)
    by_namespace: dict[str, dict[str, Stored]] = field(default_factory=dict)
    by_label: dict[tuple[str, str], set[ObjectKey]] = field(default_factory=dict)
    history: deque[Event] = field(default_factory=deque)
    compacted_rv: int = 0  # events at or below this resourceVersion are no longer kept
    watchers: set[Watcher] = field(default_factory=set)
    _sorted: list[ObjectKey] | None = None

    def get(self, namespace: str, name: str) -> Stored | None:
        """An object by namespace and name."""
        return self.objects.get((namespace, name))

    def select(self, namespace: str | None, labels: LabelSelector) -> Iterator[Stored]:
        """Objects in a namespace (or all), narrowed by the label index, in key order.

        Every returned object still has to be matched against the full selector.
        """
        candidates: set[ObjectKey] | None = None
        for pair in labels.equalities:
            keys = self.by_label.get(pair, set())
            candidates = keys if candidates is None else candidates & keys
        if candidates is not None:
            for key in sorted(candidates):
                if namespace is None or key[0] == namespace:
                    yield self.objects[key]
            return
        if namespace is not None:
            in_namespace = self.by_namespace.get(namespace, {})
            for name in sorted(in_namespace):
                yield in_namespace[name]
            return
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        for key in self._sorted:
            yield self.objects[key]

    def _index(self, stored: Stored) -> None:
        key = (stored.namespace, stored.name)
        if key not in self.objects:
            self._sorted = None
        self.objects[key] = stored
        self.by_namespace.setdefault(key[0], {})[key[1]] = stored
        for pair in stored.labels.items():
            self.by_label.setdefault(pair, set()).add(key)

    def _unindex(self, stored: Stored, removing: bool) -> None:
        key = (stored.namespace, stored.name)
        for pair in stored.labels.items():
            keys = self.by_label.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_label[pair]
        if removing:
            del self.objects[key]
            del self.by_namespace[key[0]][key[1]]
            if not self.by_namespace[key[0]]:
                del self.by_namespace[key[0]]
            self._sorted = None

    def record(self, event: Event) -> None:
        """Keep an event in the bounded history and hand it to every watcher."""
        self.history.append(event)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for watcher in list(self.watchers):
            watcher.offer(event)


@dataclass
class Store:
    """All resources of one cluster and the cluster's resourceVersion sequence."""

    history_limit: int = 1000
    rv: int = 1
    resources: dict[tuple[str, str], ResourceStore] = field(default_factory=dict)
    dependents: dict[str, set[ObjectRef]] = field(default_factory=dict)  # owner uid -> refs
    namespace_population: Counter[str] = field(default_factory=Counter)
    listeners: list[Callable[[ResourceType, Event], None]] = field(default_factory=list)

    def resource(self, resource_type: ResourceType) -> ResourceStore:
        """The store of one resource, created on first use (its type follows CRD updates)."""
        found = self.resources.get(resource_type.key)
        if found is None:
            found = ResourceStore(resource_type, self.history_limit)
            self.resources[resource_type.key] = found
        found.resource_type = resource_type
        return found

    def next_rv(self) -> int:
        """Allocate the next resourceVersion."""
        self.rv += 1
        return self.rv

    def put(self, resource_type: ResourceType, obj: dict[str, Any], rv: int) -> Stored:
        """Commit a created or updated object at ``rv`` (its metadata already carries ``rv``)."""
        resources = self.resource(resource_type)
        stored = Stored(obj, rv)
        previous = resources.get(stored.namespace, stored.name)
        if previous is not None:
            resources._unindex(previous, removing=False)
            self._unlink_owners(resource_type, previous)
        else:
            self.namespace_population[stored.namespace] += 1
        resources._index(stored)
        self._link_owners(resource_type, stored)
        self._emit(resource_type, Event("MODIFIED" if previous else "ADDED", rv, stored, previous))
        return stored

    def remove(
        self,
        resource_type: ResourceType,
        previous: Stored,
        rv: int,
        last_state: dict[str, Any] | None = None,
    ) -> Stored:
        """Delete an object at ``rv``; the DELETED event carries its last state at ``rv``.

        ``last_state`` is that state when the deleting write changed the object (the update
        that removed the last finalizer); by default it is ``previous``.
        """
        resources = self.resource(resource_type)
        resources._unindex(previous, removing=True)
        self._unlink_owners(resource_type, previous)
        self.namespace_population[previous.namespace] -= 1
        if not self.namespace_population[previous.namespace]:
            del self.namespace_population[previous.namespace]
        obj = dict(last_state if last_state is not None else previous.obj)
        obj["metadata"] = {**obj["metadata"], "resourceVersion": str(rv)}
        final = Stored(obj, rv)
        self._emit(resource_type, Event("DELETED", rv, final, previous))
        return final

    def drop_resource(self, key: tuple[str, str]) -> ResourceStore | None:
        """Forget a whole resource (its CRD was deleted); returns what was dropped."""
        return self.resources.pop(key, None)

    def _emit(self, resource_type: ResourceType, event: Event) -> None:
        self.resources[resource_type.key].record(event)
        for listener in list(self.listeners):
            listener(resource_type, event)

    def _link_owners(self, resource_type: ResourceType, stored: Stored) -> None:
        for owner in stored.obj["metadata"].get("ownerReferences") or []:
            ref = (resource_type.key, stored.namespace, stored.name)
            self.dependents.setdefault(owner.get("uid", ""), set()).add(ref)

    def _unlink_owners(self, resource_type: ResourceType, stored: Stored) -> None:
        for owner in stored.obj["metadata"].get("ownerReferences") or []:
            refs = self.dependents.get(owner.get("uid", ""))
            if refs is not None:
                refs.discard((resource_type.key, stored.namespace, stored.name))
                if not refs:
                    del self.dependents[owner.get("uid", "")]
