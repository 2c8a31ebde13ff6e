"""Watches: `?watch=1` streams with resume, filtering, bookmarks and expiry.

A `WatchStream` registers with a `store.ResourceStore`, replays what the client missed (every
existing object as ``ADDED`` when no resourceVersion is given or it is ``0``; the kept history
after it otherwise; 410 ``Expired`` as an ``ERROR`` event when that history is gone), then
forwards live events. Filtering follows the watch cache: an object that stops matching a label
or field selector is sent as ``DELETED``, one that starts matching as ``ADDED``. With
`allowWatchBookmarks`, ``BOOKMARK`` events carry the current resourceVersion every
`bookmark_interval` seconds and two seconds before the watch times out, as kube-apiserver does;
`sendInitialEvents` ends its initial burst with the `k8s.io/initial-events-end` bookmark.

`serve_watch` writes the events as newline-delimited JSON on a chunked aiohttp response until
`timeoutSeconds`, a dropped-watch fault, the cluster going offline or the fleet stopping. It
runs on the fleet's event loop; `server` calls it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from aiohttp import web

from function.testing.selectors import FieldSelector, LabelSelector
from function.testing.status import StatusError, gone
from function.testing.store import Event, ResourceStore, Store, Stored

_CLOSE = object()


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """The parameters of a watch."""

    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str
    api_version: str
    timeout: float
    bookmarks: bool
    send_initial_events: bool = False


class WatchStream:
    """One client's watch on one resource."""

    def __init__(self, resources: ResourceStore, request: WatchRequest) -> None:
        self.resources = resources
        self.request = request
        self.queue: asyncio.Queue[bytes | object] = asyncio.Queue()

    def _matches(self, stored: Stored | None) -> bool:
        if stored is None:
            return False
        request = self.request
        if request.namespace is not None and stored.namespace != request.namespace:
            return False
        return request.labels.matches(stored.labels) and request.fields.matches(stored.obj)

    def _encode(self, kind: str, stored: Stored) -> bytes:
        body = stored.to_json(self.request.api_version)
        return b'{"type":"' + kind.encode() + b'","object":' + body + b"}\n"

    def offer(self, event: Event) -> None:
        """Translate a store event for this watcher (selector transitions included)."""
        now_matches = self._matches(event.obj) if event.type != "DELETED" else False
        was_matching = self._matches(event.previous)
        if event.type == "DELETED":
            if was_matching:
                self.queue.put_nowait(self._encode("DELETED", event.obj))
        elif now_matches and was_matching:
            self.queue.put_nowait(self._encode("MODIFIED", event.obj))
        elif now_matches:
            self.queue.put_nowait(self._encode("ADDED", event.obj))
        elif was_matching:
            self.queue.put_nowait(self._encode("DELETED", event.obj))

    def close(self) -> None:
        """End the stream (a dropped watch, an offline cluster, a stopping fleet)."""
        self.queue.put_nowait(_CLOSE)

    def start(self, store: Store) -> None:
        """Register and queue what the client missed; raises 410 when history is gone."""
        requested = self.request.resource_version
        if requested in ("", "0") or self.request.send_initial_events:
            namespace = self.request.namespace
            for stored in self.resources.select(namespace, self.request.labels):
                if self._matches(stored):
                    self.queue.put_nowait(self._encode("ADDED", stored))
            if self.request.send_initial_events and self.request.bookmarks:
                self.queue.put_nowait(self._bookmark(store.rv, initial_events_end=True))
        else:
            since = _parse_rv(requested)
            if since < self.resources.compacted_rv:
                raise gone(since, self.resources.compacted_rv + 1)
            for event in self.resources.history:
                if event.rv > since:
                    self.offer(event)
        self.resources.watchers.add(self)

    def stop(self) -> None:
        """Unregister."""
        self.resources.watchers.discard(self)

    def _bookmark(self, rv: int, *, initial_events_end: bool = False) -> bytes:
        metadata: dict[str, object] = {"resourceVersion": str(rv)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {
            "kind": self.resources.resource_type.kind,
            "apiVersion": self.request.api_version,
            "metadata": metadata,
        }
        event = {"type": "BOOKMARK", "object": obj}
        return json.dumps(event, separators=(",", ":")).encode() + b"\n"

    def bookmark(self, store: Store) -> bytes:
        """A bookmark at the store's current resourceVersion (safe: the queue is drained)."""
        return self._bookmark(store.rv)


def _parse_rv(value: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise StatusError(400, "BadRequest", f"invalid resource version: {value!r}") from err


def error_event(status: StatusError) -> bytes:
    """An ``ERROR`` watch event carrying a Status."""
    return b'{"type":"ERROR","object":' + status.to_bytes() + b"}\n"


async def serve_watch(
    http: web.BaseRequest,
    stream: WatchStream,
    store: Store,
    *,
    bookmark_interval: float,
    open_streams: set[WatchStream],
) -> web.StreamResponse:
    """Stream a started watch until it times out or is closed."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(http)
    bookmarks = stream.request.bookmarks
    clock = time.monotonic
    deadline = clock() + stream.request.timeout
    expiry_bookmark = deadline - 2.0  # kube-apiserver bookmarks 2 s before a watch expires
    expiry_pending = bookmarks
    next_bookmark = clock() + bookmark_interval
    open_streams.add(stream)
    try:
        while (now := clock()) < deadline:
            try:
                item = stream.queue.get_nowait()
            except asyncio.QueueEmpty:
                wake = deadline
                if bookmarks:
                    wake = min(wake, next_bookmark, expiry_bookmark if expiry_pending else wake)
                try:
                    item = await asyncio.wait_for(stream.queue.get(), timeout=max(wake - now, 0))
                except TimeoutError:
                    now = clock()
                    if bookmarks and now < deadline:
                        await response.write(stream.bookmark(store))
                        next_bookmark = now + bookmark_interval
                        expiry_pending = expiry_pending and now < expiry_bookmark
                    continue
            if item is _CLOSE:
                break
            assert isinstance(item, bytes)
            await response.write(item)
    except ConnectionResetError:
        pass
    finally:
        stream.stop()
        open_streams.discard(stream)
    return response
