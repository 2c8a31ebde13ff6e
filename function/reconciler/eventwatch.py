"""Watches of workload clusters for event triggers: one per kind and cluster, shared.

EventTriggers need the objects their EventSource selects on every cluster they select. Many
triggers may select the same kind on the same cluster, so `EventWatches` keeps one list+watch
per (cluster, group, version, kind) however many triggers want it: each trigger states the
whole set it wants (`want`), a watch starts when its first trigger wants it and stops when its
last one no longer does.

A watch keeps the current objects of its kind (`KindView`). It is *synced* once a list has
succeeded; after that its objects are always a complete picture of the cluster, as of the last
event seen: a dropped connection resumes from the last resourceVersion, and an expired one
(410) lists again and replaces the objects wholesale — an object absent from a complete list
has been deleted. A watch that cannot reach its cluster keeps what it had; nothing is cleared
for a gap, so nothing built on it is torn down for one. Every change calls ``on_change`` with
the cluster, and the trigger controller looks again at the triggers watching it.

A watch may be narrowed by a label selector (part of its key), and an ``on_event`` callback
hears of each object that changed or went away — on a relist too, by comparing with what was
kept — so a watcher of owned objects (`function.reconciler.driftwatch`) can act on one object
rather than look at everything again; such a watcher may keep less of each object than the
whole (``keep``, any type: the drift watch keeps a small record with a digest of its content,
not the object; ``key_of`` may intern the key's strings).
Placement (`function.reconciler.fleetwatch`) shares the machinery for Nodes and Pods,
keeping only the fields capacity needs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, overload

from function.errors import GoneError, KubeError, NotFoundError
from function.kube.client import EventType, KubeClient, WatchEvent, WatchHandle
from function.model.objects import Object, meta
from function.reconciler.store import ObjectId
from function.reconciler.triggerplan import ResourceKey, resource_key

log = logging.getLogger(__name__)

Connect = Callable[[ObjectId], Awaitable[KubeClient]]
"""The client of a workload cluster (raises `KubeError` while it cannot be reached)."""

K = TypeVar("K")
"""What a watch keeps of each object: the object itself but managedFields, or less."""

Keep = Callable[[Object], K]
"""What a watch keeps of each object it lists or hears of (and hands to ``on_event``)."""

KeyOf = Callable[[Object], ResourceKey]
"""The key a watch keeps an object under."""


def kind_interned_key(obj: Object) -> ResourceKey:
    """`resource_key` with its apiVersion and kind interned: every object of a watch repeats
    them, and an event's object brings its own copies."""
    api_version, kind, namespace, name = resource_key(obj)
    return sys.intern(api_version), sys.intern(kind), namespace, name


OnEvent = Callable[["WatchKey", ResourceKey, K | None, K, bool], None]
"""An object of a watch changed or went away (``True``): the watch key, the object's key,
what the watch kept of it before (None if nothing), what it keeps now (or kept last, if
gone)."""


@dataclass(frozen=True, slots=True, order=True)
class WatchKey:
    """One kind on one workload cluster; an empty version means the preferred one."""

    cluster: ObjectId
    group: str
    version: str
    kind: str
    selector: str = ""
    """A label selector narrowing the watch (empty: every object of the kind)."""

    def __str__(self) -> str:
        gv = "/".join(p for p in (self.group, self.version) if p) or "core"
        narrowed = f" ({self.selector})" if self.selector else ""
        return f"{self.kind}.{gv}{narrowed} on {self.cluster}"


@dataclass(slots=True)
class KindView(Generic[K]):
    """What a watch knows: the current objects of its kind, and whether that is complete."""

    objects: dict[ResourceKey, K] = field(default_factory=dict)
    synced: bool = False
    error: str | None = None
    """Why the watch is not running right now (the last failure), if it is not."""
    lists: int = 0
    """Successful lists so far (the first, and every relist after an expiry)."""


class _Watch(Generic[K]):
    """One list+watch, run by callbacks: a task while it connects and lists, none while its
    watch is open and idle (the client's subscription pushes the events) or while it backs
    off (a timer)."""

    __slots__ = (
        "_api_version",
        "_connect",
        "_failures",
        "_handle",
        "_keep",
        "_key_of",
        "_max_backoff",
        "_on_change",
        "_on_event",
        "_timer",
        "_version",
        "_watch_seconds",
        "key",
        "task",
        "view",
    )

    def __init__(
        self,
        key: WatchKey,
        connect: Connect,
        on_change: Callable[[ObjectId], None],
        on_event: OnEvent[K] | None,
        keep: Keep[K],
        key_of: KeyOf,
        *,
        watch_seconds: int = 300,
        max_backoff: float = 30.0,
    ):
        self.key = key
        self._keep = keep
        self._key_of = key_of
        self.view: KindView[K] = KindView()
        self._connect = connect
        self._on_change = on_change
        self._on_event = on_event
        self._watch_seconds = watch_seconds
        self._max_backoff = max_backoff
        self._failures = 0
        self._version: str | None = None
        """Where the watch resumes; None: list first."""
        self._api_version = ""
        self.task: asyncio.Task[None] | None = None
        """Connecting, listing or opening the watch, if it is doing so now."""
        self._handle: WatchHandle | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Connect, list if needed and open the watch, on a task of its own."""
        self._timer = None
        self.task = asyncio.get_running_loop().create_task(self._open())

    def stop(self) -> None:
        """Stop whatever the watch is doing; it hears nothing more."""
        if self.task is not None:
            self.task.cancel()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _open(self) -> None:
        try:
            client = await self._connect(self.key.cluster)
            self._api_version = await self._resolve_version(client)
            if self._version is None:
                self._version = await self._relist(client, self._api_version)
            handle = await client.subscribe(
                self._api_version,
                self.key.kind,
                resource_version=self._version,
                label_selector=self.key.selector or None,
                timeout_seconds=self._watch_seconds,
                on_event=self._event,
                on_end=self._ended,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.task = None
            self._next(exc)
            return
        if self.task is asyncio.current_task():  # else it ended already, and went on
            self.task = None
            self._handle = handle

    def _ended(self, error: BaseException | None) -> None:
        self._handle = None
        self._next(error)

    def _next(self, error: BaseException | None) -> None:
        """After a watch ended (or could not start) with ``error``: go on, at once or after
        a backoff, from where it was or with a new list."""
        if error is None:
            self._failures = 0
            self.start()
            return
        if isinstance(error, GoneError):
            log.info("%s: watch expired, listing again", self.key)
            self._version = None
            self.start()
            return
        if isinstance(error, NotFoundError):
            self._failed(f"{self.key} is not served: {error}")
            self._version = None
        elif isinstance(error, KubeError):
            self._failed(f"{self.key}: {error}")
        else:  # a watch must not die silently: its triggers would go stale
            log.error("%s: watch failed", self.key, exc_info=error)
            self._failed(f"{self.key}: internal error")
            self._version = None
        self._failures += 1
        delay = min(0.2 * 2 ** min(self._failures, 10), self._max_backoff)
        self._timer = asyncio.get_running_loop().call_later(
            delay * random.uniform(0.8, 1.2), self.start
        )

    async def _resolve_version(self, client: KubeClient) -> str:
        version = self.key.version or await client.preferred_version(self.key.group)
        return f"{self.key.group}/{version}" if self.key.group else version

    async def _relist(self, client: KubeClient, api_version: str) -> str:
        listed = await client.list(
            api_version, self.key.kind, label_selector=self.key.selector or None
        )
        version = listed.resource_version
        objects: dict[ResourceKey, K] = {}
        for item in listed.items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", self.key.kind)
            objects[self._key_of(item)] = self._keep(item)
        del listed  # what is kept of the items only, while the events go out
        before, self.view.objects = self.view.objects, objects
        if self._on_event is not None:
            for key, obj in objects.items():
                if before.get(key) != obj:
                    self._on_event(self.key, key, before.get(key), obj, False)
            for key in before.keys() - objects.keys():
                self._on_event(self.key, key, before[key], before[key], True)
        self.view.synced = True
        self.view.error = None
        self.view.lists += 1
        self._on_change(self.key.cluster)
        return version

    def _event(self, event: WatchEvent) -> None:
        self._version = str(meta(event.object).get("resourceVersion") or self._version)
        if event.type is EventType.BOOKMARK:
            return
        event.object.setdefault("apiVersion", self._api_version)
        event.object.setdefault("kind", self.key.kind)
        key = self._key_of(event.object)
        obj = self._keep(event.object)
        deleted = event.type is EventType.DELETED
        known = self.view.objects.pop(key, None) if deleted else self.view.objects.get(key)
        if not deleted:
            self.view.objects[key] = obj
        if self._on_event is not None:
            self._on_event(self.key, key, known, obj, deleted)
        self.view.error = None
        self._on_change(self.key.cluster)

    def _failed(self, message: str) -> None:
        if self.view.error != message:
            log.warning("event watch: %s", message)
        self.view.error = message


class EventWatches(Generic[K]):
    """The shared watches of every trigger."""

    @overload
    def __init__(
        self: EventWatches[Object],
        connect: Connect,
        on_change: Callable[[ObjectId], None],
        *,
        on_event: OnEvent[Object] | None = None,
        keep: None = None,
        key_of: KeyOf = kind_interned_key,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None: ...

    @overload
    def __init__(
        self,
        connect: Connect,
        on_change: Callable[[ObjectId], None],
        *,
        on_event: OnEvent[K] | None = None,
        keep: Keep[K],
        key_of: KeyOf = kind_interned_key,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None: ...

    def __init__(
        self,
        connect: Connect,
        on_change: Callable[[ObjectId], None],
        *,
        on_event: OnEvent[Any] | None = None,
        keep: Keep[Any] | None = None,
        key_of: KeyOf = kind_interned_key,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None:
        self._connect = connect
        self._on_change = on_change
        self._on_event: OnEvent[K] | None = on_event
        self._keep: Keep[K] = keep if keep is not None else cast(Keep[K], _slim)  # K: Object
        self._key_of = key_of
        self._timeout = watch_timeout
        self._max_backoff = max_backoff
        self._watches: dict[WatchKey, _Watch[K]] = {}
        self._wanted: dict[str, frozenset[WatchKey]] = {}
        self._owners: dict[WatchKey, int] = {}
        """How many owners want each key; its watch runs while any does."""

    def want(self, owner: str, keys: Iterable[WatchKey]) -> None:
        """``owner`` (a trigger) now needs exactly ``keys``: start and stop watches to match.
        Only the keys that changed for ``owner`` are looked at, so a fleet's targets stating
        their kinds cost the same each, however many other owners there are."""
        wanted = frozenset(keys)
        before = self._wanted.get(owner, frozenset())
        if wanted == before:
            return
        if wanted:
            self._wanted[owner] = wanted
        else:
            self._wanted.pop(owner, None)
        for key in sorted(wanted - before):
            self._owners[key] = self._owners.get(key, 0) + 1
            if key not in self._watches:
                self._start(key)
        for key in sorted(before - wanted):
            left = self._owners.pop(key, 1) - 1
            if left:
                self._owners[key] = left
            else:
                self._stop(key)

    def _start(self, key: WatchKey) -> None:
        watch = _Watch(
            key,
            self._connect,
            self._on_change,
            self._on_event,
            self._keep,
            self._key_of,
            watch_seconds=self._timeout,
            max_backoff=self._max_backoff,
        )
        watch.start()
        self._watches[key] = watch
        log.info("watching %s", key)

    def _stop(self, key: WatchKey) -> None:
        watch = self._watches.pop(key, None)
        if watch is None:
            return
        watch.stop()
        log.info("stopped watching %s", key)

    def view(self, key: WatchKey) -> KindView[K] | None:
        """What the watch of ``key`` knows, if it runs."""
        watch = self._watches.get(key)
        return watch.view if watch is not None else None

    def active(self) -> list[WatchKey]:
        """The running watches, sorted."""
        return sorted(self._watches)

    def synced(self) -> bool:
        """Whether every running watch has listed its kind at least once."""
        return all(watch.view.synced for watch in self._watches.values())

    def owners(self, cluster: ObjectId) -> list[str]:
        """The owners that want some kind of ``cluster``."""
        return sorted(
            o for o, keys in self._wanted.items() if any(k.cluster == cluster for k in keys)
        )

    async def close(self) -> None:
        """Stop every watch."""
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for watch in self._watches.values():
            watch.stop()
        self._watches.clear()
        self._wanted.clear()
        self._owners.clear()
        await asyncio.gather(*tasks, return_exceptions=True)


_VOLATILE = ("managedFields",)


def _slim(obj: Object) -> Object:
    """The object as a watch keeps it: without managedFields."""
    m = dict(meta(obj))
    for key in _VOLATILE:
        m.pop(key, None)
    return {**obj, "metadata": m}
