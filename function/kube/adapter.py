"""The real `KubeClient`: the `kubernetes` client's HTTP layer, driven from asyncio.

The generated typed APIs deserialize every response into model classes, which costs more
than the request itself; this adapter uses the same `ApiClient` (configuration, auth,
connection pool, TLS) but builds paths from discovery and reads the JSON as dicts. Blocking
calls run on a bounded thread pool shared by every cluster; each watch runs on a thread of its
own and feeds an asyncio queue, so a thousand idle watches cost threads, not pool slots.
Failures are mapped into `function.errors` types by `function.kube.errors`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.util.retry import Retry

from function.errors import GoneError, KubeError
from function.kube.client import (
    FIELD_MANAGER,
    EventType,
    Object,
    ObjectList,
    PatchType,
    ResourceInfo,
    WatchEvent,
    describe,
    meta,
)
from function.kube.discovery import Discovery, object_path
from function.kube.errors import error_from_status, unavailable

P = ParamSpec("P")
T = TypeVar("T")

Configuration = k8s.Configuration
"""The `kubernetes` client's connection settings (host, TLS, credentials, pool size)."""

APPLY_PATCH = "application/apply-patch+yaml"
REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for ordinary requests."""

_shared_executor: ThreadPoolExecutor | None = None
_shared_lock = threading.Lock()


def shared_executor() -> ThreadPoolExecutor:
    """The process-wide pool that runs blocking API calls (sized for I/O, not CPU)."""
    global _shared_executor
    with _shared_lock:
        if _shared_executor is None:
            _shared_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="kube")
        return _shared_executor


def configuration_from_kubeconfig(
    kubeconfig: Mapping[str, Any], *, context: str | None = None, pool_size: int = 32
) -> k8s.Configuration:
    """A client configuration from a parsed kubeconfig (as stored in a cluster's Secret)."""
    cfg = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(
        dict(kubeconfig), context=context, client_configuration=cfg, persist_config=False
    )
    _tune(cfg, pool_size)
    if not _credentials_expire(kubeconfig, context):
        # For a token the loader installs a hook that reloads the whole kubeconfig section
        # before every request (tens of µs, a scan of the environment for proxies); it only
        # ever changes something for credentials that expire.
        cfg.refresh_api_key_hook = None
    return cfg


def _credentials_expire(kubeconfig: Mapping[str, Any], context: str | None) -> bool:
    """Whether the context's user gets expiring tokens (an exec plugin or an auth provider)."""
    name = context or kubeconfig.get("current-context")
    chosen = next((c for c in kubeconfig.get("contexts") or [] if c.get("name") == name), None)
    user_name = ((chosen or {}).get("context") or {}).get("user")
    user = next((u for u in kubeconfig.get("users") or [] if u.get("name") == user_name), None)
    if user is None:
        return True  # cannot tell: keep the client's refresh
    credentials = user.get("user") or {}
    return "exec" in credentials or "auth-provider" in credentials


def _tune(cfg: k8s.Configuration, pool_size: int) -> None:
    """Connections for a controller: a pool per worker thread, and no retries but of a
    connect — 429s and 5xx come back to the work queue, whose backoff honours Retry-After
    without holding a thread asleep."""
    cfg.connection_pool_maxsize = pool_size
    cfg.retries = Retry(
        total=2,
        connect=2,
        read=0,
        redirect=0,
        status=0,
        other=0,
        respect_retry_after_header=False,
    )


def in_cluster_configuration(*, pool_size: int = 32) -> k8s.Configuration:
    """The configuration of the pod's service account."""
    cfg = k8s.Configuration()
    k8s_config.load_incluster_config(client_configuration=cfg)
    _tune(cfg, pool_size)
    return cfg


class ApiAdapter:
    """A `KubeClient` over one `kubernetes.client.ApiClient`."""

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        executor: Executor | None = None,
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        self._api = k8s.ApiClient(configuration)
        self._executor = executor or shared_executor()
        self._timeout = request_timeout
        self._discovery = Discovery(self._get_json)
        self.host: str = configuration.host

    # --- the KubeClient protocol --------------------------------------------------------

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        cached = self._discovery.cached(api_version, kind)
        if cached is not None:
            return cached
        return await self._run(self._discovery.resource, api_version, kind)

    async def preferred_version(self, group: str) -> str:
        return await self._run(self._discovery.preferred_version, group)

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object:
        info = await self.resource_info(api_version, kind)
        path = object_path(info, namespace, name)
        return await self._run(self._json, "GET", path, what=f"get {kind} {_nn(namespace, name)}")

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
        doc = await self._run(
            self._json, "GET", object_path(info, namespace), query=query, what=f"list {kind}"
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
        query = _query(
            watch="true",
            resourceVersion=resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(timeout_seconds),
            labelSelector=label_selector,
        )
        stream = _WatchStream(
            self, object_path(info, namespace), query, timeout_seconds, what=f"watch {kind}"
        )
        async for event in stream:
            yield event

    async def create(self, obj: Object) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        path = object_path(info, meta(obj).get("namespace"))
        return await self._run(
            self._json, "POST", path, query=_MANAGER, body=obj, what=f"create {describe(obj)}"
        )

    async def replace(self, obj: Object) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        m = meta(obj)
        path = object_path(info, m.get("namespace"), m["name"])
        return await self._run(
            self._json, "PUT", path, query=_MANAGER, body=obj, what=f"replace {describe(obj)}"
        )

    async def apply(
        self,
        obj: Object,
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = False,
        dry_run: bool = False,
    ) -> Object:
        info = await self.resource_info(obj["apiVersion"], obj["kind"])
        m = meta(obj)
        path = object_path(info, m.get("namespace"), m["name"])
        query = _query(
            fieldManager=field_manager,
            force="true" if force else None,
            dryRun="All" if dry_run else None,
        )
        return await self._run(
            self._json,
            "PATCH",
            path,
            query=query,
            # Encoded here: the client would otherwise walk the whole object to "sanitize" it,
            # which costs more than the request for a large CRD; JSON is valid YAML.
            body=json.dumps(obj, separators=(",", ":")).encode(),
            content_type=APPLY_PATCH,
            what=f"apply {describe(obj)}",
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
        return await self._run(
            self._json,
            "PATCH",
            path,
            query=_MANAGER,
            body=patch,
            content_type=patch_type.value,
            what=f"patch {kind} {_nn(namespace, name)}",
        )

    async def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: Object
    ) -> Object:
        return await self.patch(
            api_version, kind, name, namespace, {"status": status}, subresource="status"
        )

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
        await self._run(
            self._json,
            "DELETE",
            object_path(info, namespace, name),
            body=body,
            what=f"delete {kind} {_nn(namespace, name)}",
        )

    async def close(self) -> None:
        await self._run(self._api.close)

    # --- blocking helpers, run on the executor --------------------------------------------

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _get_json(self, path: str) -> Object:
        return self._json("GET", path, what=f"discover {path}")

    def _json(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: builtins.list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Object:
        resp = self.open(method, path, what=what, query=query, body=body, content_type=content_type)
        try:
            data = resp.read()
        except urllib3.exceptions.HTTPError as exc:
            raise unavailable(exc, what=what) from exc
        if resp.status >= 400:
            raise error_from_status(resp.status, data, resp.headers, what=what)
        doc: Object = json.loads(data) if data else {}
        return doc

    def open(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: builtins.list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one request and return the unread `RESTResponse` (blocking)."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self._api.call_api(*request, _request_timeout=timeout or self._timeout)
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            raise unavailable(exc, what=what) from exc


class _WatchStream:
    """One watch request read on its own thread and handed to the event loop line by line."""

    _END = object()

    def __init__(
        self,
        adapter: ApiAdapter,
        path: str,
        query: list[tuple[str, str]],
        timeout_seconds: int,
        *,
        what: str,
    ) -> None:
        self._adapter = adapter
        self._path = path
        self._query = query
        self._read_timeout = timeout_seconds + 30.0
        self._what = what
        self._stopped = threading.Event()
        self._response: Any = None

    async def __aiter__(self) -> AsyncIterator[WatchEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def deliver(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self._stopped.set()

        thread = threading.Thread(target=self._pump, args=(deliver,), name=self._what, daemon=True)
        thread.start()
        try:
            while (item := await queue.get()) is not self._END:
                if isinstance(item, KubeError):
                    raise item
                yield _decode_event(item, what=self._what)
        finally:
            self._stop()

    def _pump(self, deliver: Any) -> None:
        try:
            resp = self._adapter.open(
                "GET",
                self._path,
                what=self._what,
                query=self._query,
                timeout=(REQUEST_TIMEOUT[0], self._read_timeout),
            )
            self._response = resp
            if resp.status >= 400:
                raise error_from_status(resp.status, resp.read(), resp.headers, what=self._what)
            for line in iter_resp_lines(resp.response):
                if self._stopped.is_set():
                    break
                if line:
                    deliver(line)
        except KubeError as exc:
            deliver(exc)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if not self._stopped.is_set():
                deliver(unavailable(exc, what=self._what))
        finally:
            deliver(self._END)
            if self._response is not None:
                if self._stopped.is_set():  # cut short: the connection is not reusable
                    self._response.response.close()
                else:
                    self._response.response.release_conn()

    def _stop(self) -> None:
        self._stopped.set()
        if self._response is not None:
            # Unblocks the reading thread; the response may have ended on its own meanwhile.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                self._response.response.shutdown()


def _decode_event(line: str | bytes, *, what: str) -> WatchEvent:
    event = json.loads(line)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        code = int(obj.get("code") or 0)
        if code == 410:
            raise GoneError(f"{what}: {obj.get('message', 'resource version too old')}", status=410)
        raise error_from_status(code or 500, obj, {}, what=what)
    return WatchEvent(EventType(kind), obj)


_MANAGER = [("fieldManager", FIELD_MANAGER)]
"""Every write names its field manager, as server-side apply does."""


def _query(**params: str | None) -> list[tuple[str, str]]:
    return [(k, v) for k, v in params.items() if v is not None]


def _nn(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
