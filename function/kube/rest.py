"""The `KubeClient` protocol over two primitives that a transport provides.

Both transports (`function.kube.aio`, aiohttp on the event loop — the default; and
`function.kube.adapter`, the `kubernetes` client's urllib3 layer on threads) build the same
paths from discovery and read the same JSON as dicts; they differ only in how one request is
sent (`RestClient._request`, given a `Request`) and how a watch's lines are read
(`RestClient._lines`, iterated; `RestClient._subscribe_lines`, pushed to a `LineSink` — by
default a task iterating `_lines`, a protocol on the event loop's callbacks on aiohttp's
transport). Errors
are mapped by `function.kube.errors`, once, inside those two primitives. Bodies are encoded
and decoded with orjson (a fleet's reconciler spends more of its CPU reading JSON than on
anything else): what orjson will not encode (integers past 64 bits, non-string keys) goes
through the standard library, and a number past 64 bits is read as a float, as kube-apiserver
itself keeps one in a custom resource.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from function.errors import GoneError
from function.kube.client import (
    FIELD_MANAGER,
    Capabilities,
    EventType,
    ObjectList,
    OnWatchEnd,
    OnWatchEvent,
    PatchType,
    ResourceInfo,
    WatchEvent,
    WatchHandle,
)
from function.kube.discovery import Discovery, object_path
from function.kube.errors import error_from_status
from function.kube.watchstream import LineSink
from function.model.objects import Object, describe, meta

APPLY_PATCH = "application/apply-patch+yaml"
REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for ordinary requests."""

Query = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a transport sends it; ``what`` names it in errors (``get Pod a/b``)."""

    method: str
    path: str
    what: str
    query: Query | None = None
    body: Any = None
    """A JSON-able object, or bytes already encoded."""
    content_type: str | None = None
    """Of the body (``application/json`` when unset)."""


class RestClient(ABC):
    """A `KubeClient` whose transport implements `_request`, `_lines` and `close`."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._discovery = Discovery(self._get_json)

    # --- what a transport provides ------------------------------------------------------

    @abstractmethod
    async def _request(self, request: Request) -> Object:
        """Send one request; the decoded JSON answer, or a `KubeError` about its ``what``."""

    @abstractmethod
    def _lines(
        self, path: str, query: Query, timeout_seconds: int, *, what: str
    ) -> AsyncIterator[bytes | str]:
        """The non-empty lines of a streaming (watch) response, until the server ends it."""

    async def _subscribe_lines(
        self, path: str, query: Query, timeout_seconds: int, sink: LineSink, *, what: str
    ) -> WatchHandle:
        """The lines of a watch pushed to ``sink`` (its ``end``: None, or a `KubeError` or
        what ``line`` raised); here, by a task that iterates `_lines`."""
        lines = self._lines(path, query, timeout_seconds, what=what)
        return asyncio.get_running_loop().create_task(_pump(lines, sink))

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # --- the KubeClient protocol --------------------------------------------------------

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        cached = self._discovery.cached(api_version, kind)
        if cached is not None:
            return cached
        return await self._discovery.resource(api_version, kind)

    async def preferred_version(self, group: str) -> str:
        return await self._discovery.preferred_version(group)

    async def capabilities(self) -> Capabilities:
        return await self._discovery.capabilities()

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object:
        info = await self.resource_info(api_version, kind)
        path = object_path(info, namespace, name)
        return await self._request(Request("GET", path, f"get {kind} {_nn(namespace, name)}"))

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        info = await self.resource_info(api_version, kind)
        query = _query(labelSelector=label_selector, fieldSelector=field_selector)
        doc = await self._request(
            Request("GET", object_path(info, namespace), f"list {kind}", query)
        )
        items: list[Object] = doc.get("items") or []
        for item in items:  # the API leaves these out of list items for built-in kinds
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return ObjectList(items, str(meta(doc).get("resourceVersion", "")))

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        info = await self.resource_info(api_version, kind)
        query = _watch_query(resource_version, timeout_seconds, label_selector)
        what = f"watch {kind}"
        lines = self._lines(object_path(info, namespace), query, timeout_seconds, what=what)
        del info, query  # not held while the watch waits
        async for line in lines:
            event = [_decode_event(line, what=what)]
            del line
            # Yielded out of a list, so that this frame holds no reference to the event
            # while it waits for the next: an idle watch would keep its last object alive.
            yield event.pop()

    async def subscribe(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        on_event: OnWatchEvent,
        on_end: OnWatchEnd,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> WatchHandle:
        info = await self.resource_info(api_version, kind)
        query = _watch_query(resource_version, timeout_seconds, label_selector)
        what = f"watch {kind}"
        sink = _EventSink(on_event, on_end, what)
        path = object_path(info, namespace)
        return await self._subscribe_lines(path, query, timeout_seconds, sink, what=what)

    async def create(self, obj: Object) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        path = object_path(info, meta(obj).get("namespace"))
        return await self._request(Request("POST", path, f"create {describe(obj)}", _MANAGER, obj))

    async def replace(self, obj: Object) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        m = meta(obj)
        path = object_path(info, m.get("namespace"), m["name"])
        return await self._request(Request("PUT", path, f"replace {describe(obj)}", _MANAGER, obj))

    async def apply(
        self,
        obj: Object,
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = False,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        m = meta(obj)
        path = object_path(info, m.get("namespace"), m["name"], subresource)
        query = _query(
            fieldManager=field_manager,
            force="true" if force else None,
            dryRun="All" if dry_run else None,
        )
        # Encoded once, here: JSON is valid YAML, and a transport that would "sanitize" the
        # object first would walk a large CRD twice.
        body = encode(obj)
        return await self._request(
            Request("PATCH", path, f"apply {describe(obj)}", query, body, APPLY_PATCH)
        )

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Object | builtins.list[Object],
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> Object:
        info = await self.resource_info(api_version, kind)
        path = object_path(info, namespace, name, subresource)
        what = f"patch {kind} {_nn(namespace, name)}"
        return await self._request(Request("PATCH", path, what, _MANAGER, patch, patch_type.value))

    async def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        status: Object,
        *,
        resource_version: str | None = None,
    ) -> Object:
        body: Object = {"status": status}
        if resource_version is not None:  # a precondition, as kube-apiserver reads it
            body = {"metadata": {"resourceVersion": resource_version}, **body}
        return await self.patch(api_version, kind, name, namespace, body, subresource="status")

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> None:
        info = await self.resource_info(api_version, kind)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        path = object_path(info, namespace, name)
        await self._request(
            Request("DELETE", path, f"delete {kind} {_nn(namespace, name)}", body=body)
        )

    async def _get_json(self, path: str) -> Object:
        return await self._request(Request("GET", path, f"discover {path}"))


def encode(body: Any) -> bytes:
    """A request body as compact JSON."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


def decode(payload: bytes | str) -> Any:
    """A response body (or a watch line) from JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)  # raises as orjson would, with the standard library's words


def _decode_event(line: str | bytes, *, what: str) -> WatchEvent:
    event = decode(line)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        code = int(obj.get("code") or 0)
        if code == 410:
            raise GoneError(f"{what}: {obj.get('message', 'resource version too old')}", status=410)
        raise error_from_status(code or 500, obj, {}, what=what)
    return WatchEvent(EventType(kind), obj)


class _EventSink:
    """A subscription's lines decoded into events for its callbacks."""

    __slots__ = ("_on_end", "_on_event", "_what")

    def __init__(self, on_event: OnWatchEvent, on_end: OnWatchEnd, what: str) -> None:
        self._on_event = on_event
        self._on_end = on_end
        self._what = what

    def line(self, line: bytes) -> None:
        self._on_event(_decode_event(line, what=self._what))  # an ERROR event raises

    def end(self, error: BaseException | None) -> None:
        self._on_end(error)


async def _pump(lines: AsyncIterator[bytes | str], sink: LineSink) -> None:
    """Push ``lines`` to ``sink`` until they end (a cancelled pump tells ``sink`` nothing)."""
    try:
        async for line in lines:
            sink.line(line if isinstance(line, bytes) else line.encode())
            del line
    except Exception as exc:  # a KubeError, or what the sink raised
        sink.end(exc)
    else:
        sink.end(None)


def _watch_query(resource_version: str, timeout_seconds: int, label_selector: str | None) -> Query:
    return _query(
        watch="true",
        resourceVersion=resource_version,
        allowWatchBookmarks="true",
        timeoutSeconds=str(timeout_seconds),
        labelSelector=label_selector,
    )


_MANAGER = [("fieldManager", FIELD_MANAGER)]
"""Every write names its field manager, as server-side apply does."""


def _query(**params: str | None) -> Query:
    return [(k, v) for k, v in params.items() if v is not None]


def _nn(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
