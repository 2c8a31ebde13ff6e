"""The HTTP face of one emulated cluster: routing, parameters, bodies and faults.

A `ClusterServer` listens on its own 127.0.0.1 port with aiohttp's low-level server (no router:
paths are split by hand, which keeps a request cheap) and translates kube-apiserver's REST
surface into `apiserver.ApiServer` calls: discovery documents, `GET` (get, list, watch),
`POST`, `PUT`, `PATCH` (merge, JSON, strategic merge, apply) and `DELETE` on objects and
collections, for namespaced and cluster-scoped resources and their `/status` subresource.
Failures become `Status` bodies. Before each request the cluster's `faults.Faults` may delay or
fail it; every answered request lands in the `writelog.RequestLog`. Taking the server offline
closes its listening socket and its connections, so clients see *connection refused*.

Everything here runs on the fleet's event loop (`fleet`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from function.testing import discovery
from function.testing.access import Access
from function.testing.apiserver import ApiServer
from function.testing.faults import Faults, RequestInfo
from function.testing.resources import ResourceType
from function.testing.selectors import parse_field_selector, parse_label_selector
from function.testing.status import StatusError, bad_request, method_not_allowed
from function.testing.store import Stored
from function.testing.targets import APPLY, DeleteOptions, Target, WriteOptions
from function.testing.watch import WatchRequest, WatchStream, error_event, serve_watch
from function.testing.writelog import CLIENT, RequestLog

_NOT_FOUND = StatusError(404, "NotFound", "the server could not find the requested resource")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Knobs shared by every cluster of a fleet."""

    bookmark_interval: float = 60.0
    """Seconds between periodic BOOKMARK events (kube-apiserver: about a minute)."""
    watch_timeout: float = 1800.0
    """How long a watch without `timeoutSeconds` lasts."""


@dataclass(frozen=True, slots=True)
class Route:
    """A parsed request: either a discovery document or a verb on a target."""

    verb: str
    target: Target | None = None
    document: dict[str, Any] | None = None


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
            route = self._route(request)
            verdict = self.faults.judge(_info(route))
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
            return self._route(request)
        except StatusError:
            return None

    def _log(self, route: Route | None, code: int, size: int = 0) -> None:
        info = _info(route) if route else RequestInfo("unknown", "", "", "")
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

    def _route(self, request: web.BaseRequest) -> Route:
        parts = [p for p in request.path.split("/") if p]
        registry = self.api.registry
        if parts == ["version"]:
            return Route("discovery", document=discovery.version_info())
        if parts == ["api"]:
            return Route("discovery", document=discovery.core_versions(f"127.0.0.1:{self.port}"))
        if parts == ["apis"]:
            return Route("discovery", document=discovery.group_list(registry))
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        elif len(parts) == 2 and parts[0] == "apis":
            document = discovery.group(registry, parts[1])
            if document is None:
                raise _NOT_FOUND
            return Route("discovery", document=document)
        else:
            raise _NOT_FOUND
        if not rest:
            document = discovery.resource_list(registry, group, version)
            if document is None:
                raise _NOT_FOUND
            return Route("discovery", document=document)
        target = self._target(group, version, rest)
        return Route(_verb(request, target), target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        registry = self.api.registry
        if len(rest) >= 3 and rest[0] == "namespaces":
            found = registry.resolve(group, version, rest[2])
            if found is not None and found.namespaced and len(rest) <= 5:
                subresource = rest[4] if len(rest) == 5 else ""
                name = rest[3] if len(rest) >= 4 else None
                return _checked(Target(found, version, rest[1], name, subresource))
        found = registry.resolve(group, version, rest[0])
        if found is None or len(rest) > 3:
            raise _NOT_FOUND
        name = rest[1] if len(rest) >= 2 else None
        if found.namespaced and name is not None:
            raise _NOT_FOUND
        return _checked(Target(found, version, None, name, rest[2] if len(rest) == 3 else ""))

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
                stored = api.create(target, await _body(request), _write_options(request))
                return _object_response(201, stored, target)
            case "update":
                stored = api.update(target, await _body(request), _write_options(request))
                return _object_response(200, stored, target)
            case "patch" | "apply":
                content_type = request.content_type
                stored, created = api.patch(
                    target, content_type, await _body(request), _write_options(request)
                )
                return _object_response(201 if created else 200, stored, target)
            case "delete":
                stored, gone = api.delete(target, await _delete_options(request))
                if gone:
                    return _json_response(200, _success(stored, target.resource_type))
                return _object_response(200, stored, target)
            case _:
                return self._delete_collection(request, target, await _delete_options(request))

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
            limit=_int(query.get("limit"), "limit"),
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
            timeout=float(_int(timeout, "timeoutSeconds"))
            if timeout
            else self.settings.watch_timeout,
            bookmarks=_flag(query.get("allowWatchBookmarks")),
            send_initial_events=_flag(query.get("sendInitialEvents")),
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


def _checked(target: Target) -> Target:
    if target.subresource and not (
        target.subresource == "status" and target.resource_type.status_subresource
    ):
        raise _NOT_FOUND
    return target


def _verb(request: web.BaseRequest, target: Target) -> str:
    method = request.method
    watching = _flag(request.query.get("watch"))
    if method == "GET":
        if watching:
            return "watch"
        return "get" if target.name else "list"
    if method == "POST" and target.name is None:
        return "create"
    if method == "PUT" and target.name:
        return "update"
    if method == "PATCH" and target.name:
        return "apply" if request.content_type == APPLY else "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise method_not_allowed(
        f"the server does not allow this method on the requested resource ({method})"
    )


def _info(route: Route) -> RequestInfo:
    target = route.target
    if target is None:
        return RequestInfo(route.verb, "", "", "")
    return RequestInfo(
        route.verb, target.resource_type.kind, target.namespace or "", target.name or ""
    )


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _int(value: str | None, name: str) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError as err:
        raise bad_request(f"invalid {name}: {value!r}") from err


def _dry_run(request: web.BaseRequest) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f"Invalid dry run value: {value!r}; only 'All' is supported")
    return bool(values)


def _write_options(request: web.BaseRequest) -> WriteOptions:
    manager = request.query.get("fieldManager")
    if manager is None and request.content_type != APPLY:
        manager = request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
    return WriteOptions(
        field_manager=manager or "",
        dry_run=_dry_run(request),
        force=_flag(request.query.get("force")),
    )


async def _body(request: web.BaseRequest) -> Any:
    raw = await request.read()
    if not raw:
        raise bad_request("the request body is empty")
    try:
        return json.loads(raw)
    except ValueError:
        pass
    if "yaml" not in request.content_type:
        raise bad_request("the request body is not valid JSON")
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise bad_request(f"the request body is not valid YAML: {err}") from err


async def _delete_options(request: web.BaseRequest) -> DeleteOptions:
    raw = await request.read()
    body: dict[str, Any] = {}
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as err:
            raise bad_request("DeleteOptions must be JSON") from err
    preconditions = body.get("preconditions") or {}
    policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    if policy is None and (
        body.get("orphanDependents") or _flag(request.query.get("orphanDependents"))
    ):
        policy = "Orphan"
    return DeleteOptions(
        field_manager=request.headers.get("User-Agent", "unknown").split("/")[0],
        dry_run=_dry_run(request) or "All" in (body.get("dryRun") or []),
        propagation_policy=policy or "Background",
        uid=preconditions.get("uid"),
        resource_version=preconditions.get("resourceVersion"),
    )


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
