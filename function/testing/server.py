"""The HTTP face of one emulated cluster: connections, dispatch, responses and faults.

A `ClusterServer` listens on its own 127.0.0.1 port with aiohttp's low-level server (no router:
paths are split by hand in `routing`, which keeps a request cheap) and translates
kube-apiserver's REST surface into `apiserver.ApiServer` calls: discovery documents, `GET`
(get, list, watch), `POST`, `PUT`, `PATCH` (merge, JSON, strategic merge, apply) and `DELETE`
on objects and collections, for namespaced and cluster-scoped resources and their `/status`
subresource. Failures become `Status` bodies. Before each request the cluster's
`faults.Faults` may delay or fail it; every answered request lands in the
`writelog.RequestLog`. Taking the server offline closes its listening socket and its
connections, so clients see *connection refused*.

Everything here runs on the fleet's event loop (`fleet`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from function.testing.access import Access
from function.testing.apiserver import ApiServer
from function.testing.faults import Faults, RequestInfo
from function.testing.resources import ResourceType
from function.testing.routing import (
    Route,
    delete_options,
    flag,
    integer,
    read_body,
    request_info,
    route_of,
    write_options,
)
from function.testing.selectors import parse_field_selector, parse_label_selector
from function.testing.status import StatusError
from function.testing.store import Stored
from function.testing.targets import DeleteOptions, Target
from function.testing.watch import WatchRequest, WatchStream, error_event, serve_watch
from function.testing.writelog import CLIENT, RequestLog

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Knobs shared by every cluster of a fleet."""

    bookmark_interval: float = 60.0
    """Seconds between periodic BOOKMARK events (kube-apiserver: about a minute)."""
    watch_timeout: float = 1800.0
    """How long a watch without `timeoutSeconds` lasts."""


class ClusterServer:
    """Serves one `ApiServer` over HTTP on its own port."""

    def __init__(
        self,
        api: ApiServer,
        settings: ServerSettings,
        run_on_loop: Callable[[Callable[[], Any]], Any],
    ) -> None:
        self.api = api
        self.settings = settings
        self.requests = RequestLog()
        self.access = Access(api.store)
        self.port = 0
        self.online = False
        self._run_on_loop = run_on_loop
        self._web = web.Server(self._handle, handler_cancellation=True)
        self.accepted = 0
        """Connections accepted so far (a client that reuses its connections opens few)."""
        self._listener: asyncio.Server | None = None
        self._streams: set[WatchStream] = set()
        self._discovery: dict[str, tuple[int, bytes]] = {}
        self.faults = Faults(self._drop_watches_from_any_thread, self._set_online_from_any_thread)

    # -- lifecycle (loop thread) ----------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(self._accept, "127.0.0.1", port or self.port)
        self.port = self._listener.sockets[0].getsockname()[1]
        self.online = True

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._web.connections)

    def _accept(self) -> asyncio.BaseProtocol:
        self.accepted += 1
        return self._web()

    def stop(self) -> None:
        """Stop listening and drop every connection and watch (the port is kept for later)."""
        self.online = False
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.drop_watches(None)
        for connection in self._web.connections:
            connection.force_close()

    def drop_watches(self, kind: str | None) -> int:
        """End open watches (of one kind, or all)."""
        dropped = [
            s for s in self._streams if kind is None or s.resources.resource_type.kind == kind
        ]
        for stream in dropped:
            stream.close()
        return len(dropped)

    def _drop_watches_from_any_thread(self, kind: str | None) -> int:
        result: int = self._run_on_loop(lambda: self.drop_watches(kind))
        return result

    def _set_online_from_any_thread(self, online: bool) -> None:
        async def switch() -> None:
            if online and not self.online:
                await self.start(self.port)
            elif not online and self.online:
                self.stop()

        self._run_on_loop(switch)

    # -- requests ------------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        CLIENT.set(request.headers.get("User-Agent", ""))  # this request's task only
        route: Route | None = None
        try:
            refused = self._authorize(request)
            if refused is not None:
                route = self._route_or_none(request)  # to log what was refused
                raise refused
            route = route_of(request, self.api.registry, self.port)
            verdict = self.faults.judge(request_info(route))
            if verdict.delay:
                await asyncio.sleep(verdict.delay)
            if verdict.error is not None:
                raise verdict.error
            if route.verb == "watch":  # logged as soon as the stream starts
                return await self._watch(request, route)
            response = await self._dispatch(request, route)
        except StatusError as error:
            response = _error_response(error)
        self._log(route, response.status, request.content_length or 0)
        return response

    def _authorize(self, request: web.BaseRequest) -> StatusError | None:
        """Authenticate and authorize before routing, as kube-apiserver's filters do (so a
        forbidden request for a kind that is not served is 403, not 404)."""
        access = self.access
        if not access.enabled:
            return None
        try:
            access.check(
                request.method,
                request.path,
                request.query,
                request.headers.get("Authorization", ""),
            )
        except StatusError as error:
            return error
        return None

    def _route_or_none(self, request: web.BaseRequest) -> Route | None:
        try:
            return route_of(request, self.api.registry, self.port)
        except StatusError:
            return None

    def _log(self, route: Route | None, code: int, size: int = 0) -> None:
        info = request_info(route) if route else RequestInfo("unknown", "", "", "")
        target = route.target if route else None
        self.requests.add(
            verb=info.verb,
            api_version=target.api_version if target else "",
            kind=info.kind,
            namespace=info.namespace,
            name=info.name,
            subresource=target.subresource if target else "",
            code=code,
            size=size,
        )

    async def _dispatch(self, request: web.BaseRequest, route: Route) -> web.StreamResponse:
        if route.document is not None:
            return _json_response(200, self._document(request.path, route.document))
        target = route.target
        assert target is not None
        query = request.query
        api = self.api
        match route.verb:
            case "get":
                return _object_response(200, api.get(target), target)
            case "list":
                return self._list(target, query)
            case "create":
                stored = api.create(target, await read_body(request), write_options(request))
                return _object_response(201, stored, target)
            case "update":
                stored = api.update(target, await read_body(request), write_options(request))
                return _object_response(200, stored, target)
            case "patch" | "apply":
                content_type = request.content_type
                stored, created = api.patch(
                    target, content_type, await read_body(request), write_options(request)
                )
                return _object_response(201 if created else 200, stored, target)
            case "delete":
                stored, gone = api.delete(target, await delete_options(request))
                if gone:
                    return _json_response(200, _success(stored, target.resource_type))
                return _object_response(200, stored, target)
            case _:
                return self._delete_collection(request, target, await delete_options(request))

    def _document(self, path: str, document: dict[str, Any]) -> bytes:
        generation = self.api.registry.generation
        cached = self._discovery.get(path)
        if cached is not None and cached[0] == generation:
            return cached[1]
        body = json.dumps(document, separators=(",", ":")).encode()
        self._discovery[path] = (generation, body)
        return body

    def _list(self, target: Target, query: Any) -> web.Response:
        resource_type = target.resource_type
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), resource_type.field_selectors)
        result = self.api.list_objects(
            target,
            labels,
            fields,
            limit=integer(query.get("limit"), "limit"),
            continue_token=query.get("continue", ""),
        )
        metadata: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            metadata["continue"] = result.continue_token
            metadata["remainingItemCount"] = result.remaining
        items = b",".join(s.to_json(target.api_version) for s in result.items)
        head = {"apiVersion": target.api_version, "kind": resource_type.list_kind}
        body = (
            json.dumps(head, separators=(",", ":")).encode()[:-1]
            + b',"metadata":'
            + json.dumps(metadata, separators=(",", ":")).encode()
            + b',"items":['
            + items
            + b"]}"
        )
        return _json_response(200, body)

    async def _watch(self, request: web.BaseRequest, route: Route) -> web.StreamResponse:
        target = route.target
        assert target is not None
        query = request.query
        resource_type = target.resource_type
        field_text = query.get("fieldSelector")
        if target.name:
            field_text = f"metadata.name={target.name}"
        timeout = query.get("timeoutSeconds")
        watch = WatchRequest(
            namespace=target.namespace if resource_type.namespaced else None,
            labels=parse_label_selector(query.get("labelSelector")),
            fields=parse_field_selector(field_text, resource_type.field_selectors),
            resource_version=query.get("resourceVersion", ""),
            api_version=target.api_version,
            timeout=float(integer(timeout, "timeoutSeconds"))
            if timeout
            else self.settings.watch_timeout,
            bookmarks=flag(query.get("allowWatchBookmarks")),
            send_initial_events=flag(query.get("sendInitialEvents")),
        )
        stream = WatchStream(self.api.store.resource(resource_type), watch)
        try:
            stream.start(self.api.store)
        except StatusError as error:
            if error.code != 410:
                raise
            self._log(route, 200)
            response = web.StreamResponse(status=200, headers={"Content-Type": _JSON})
            await response.prepare(request)
            await response.write(error_event(error))
            return response
        self._log(route, 200)
        return await serve_watch(
            request,
            stream,
            self.api.store,
            bookmark_interval=self.settings.bookmark_interval,
            open_streams=self._streams,
        )

    def _delete_collection(
        self, request: web.BaseRequest, target: Target, opts: DeleteOptions
    ) -> web.Response:
        resource_type = target.resource_type
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(
            request.query.get("fieldSelector"), resource_type.field_selectors
        )
        deleted = self.api.delete_collection(target, labels, fields, opts)
        items = b",".join(s.to_json(target.api_version) for s in deleted)
        head = {
            "apiVersion": target.api_version,
            "kind": resource_type.list_kind,
            "metadata": {"resourceVersion": str(self.api.store.rv)},
        }
        body = json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"items":[' + items + b"]}"
        return _json_response(200, body)


def _json_response(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type=_JSON)


def _object_response(status: int, stored: Stored, target: Target) -> web.Response:
    return _json_response(status, stored.to_json(target.api_version))


def _error_response(error: StatusError) -> web.Response:
    response = _json_response(error.code, error.to_bytes())
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _success(stored: Stored, resource_type: ResourceType) -> bytes:
    details: dict[str, Any] = {
        "name": stored.name,
        "kind": resource_type.plural,
        "uid": stored.obj["metadata"].get("uid", ""),
    }
    if resource_type.group:
        details["group"] = resource_type.group
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
    return json.dumps(status, separators=(",", ":")).encode()
