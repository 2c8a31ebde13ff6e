"""The `kubernetes` client's configuration, and its urllib3 transport driven from threads.

`configuration_from_kubeconfig` and `in_cluster_configuration` load credentials the way
kubectl does; both transports read them (`function.kube.aio`, the default, and `ApiAdapter`
here). `ApiAdapter` sends through the client's own `ApiClient` (connection pool, TLS, auth):
blocking calls run on a bounded thread pool shared by every cluster and each watch reads on a
thread of its own, feeding an asyncio queue. It is the reference the event-loop transport is
measured against (`benchmarks/reconciler.py --transport threads`). The protocol methods are
`function.kube.rest`'s; failures are mapped into `function.errors` by `function.kube.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes.watch.watch import iter_resp_lines
from urllib3.util.retry import Retry

from function.errors import KubeError
from function.kube.errors import error_from_status, unavailable
from function.kube.heaptrim import heap
from function.kube.rest import REQUEST_TIMEOUT, Query, Request, RestClient, decode
from function.model.objects import Object

P = ParamSpec("P")
T = TypeVar("T")

Configuration = k8s.Configuration
"""The `kubernetes` client's connection settings (host, TLS, credentials, pool size)."""

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


def in_cluster_configuration(
    *,
    pool_size: int = 32,
    environ: Mapping[str, str] | None = None,
    token_file: str = SERVICE_TOKEN_FILENAME,
    ca_file: str = SERVICE_CERT_FILENAME,
) -> k8s.Configuration:
    """The configuration of the pod's service account (the token is re-read as the kubelet
    rotates it). Raises the loader's `ConfigException` outside a pod."""
    cfg = k8s.Configuration()
    InClusterConfigLoader(
        token_filename=token_file,
        cert_filename=ca_file,
        environ=os.environ if environ is None else environ,
    ).load_and_set(cfg)
    _tune(cfg, pool_size)
    return cfg


class ApiAdapter(RestClient):
    """A `KubeClient` over one `kubernetes.client.ApiClient`, its requests on threads."""

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        executor: Executor | None = None,
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(configuration.host)
        self._api = k8s.ApiClient(configuration)
        self._executor = executor or shared_executor()
        self._timeout = request_timeout

    async def close(self) -> None:
        await self._run(self._api.close)

    async def _request(self, request: Request) -> Object:
        try:
            return await self._run(self._json, request)
        finally:
            heap.used()

    async def _lines(
        self, path: str, query: Query, timeout_seconds: int, *, what: str
    ) -> AsyncIterator[bytes | str]:
        async for line in _WatchStream(self, path, query, timeout_seconds, what=what):
            yield line

    # --- blocking helpers, run on the executor --------------------------------------------

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _json(self, request: Request) -> Object:
        resp = self.open(request)
        try:
            data = resp.read()
        except urllib3.exceptions.HTTPError as exc:
            raise unavailable(exc, what=request.what) from exc
        if resp.status >= 400:
            raise error_from_status(resp.status, data, resp.headers, what=request.what)
        doc: Object = decode(data) if data else {}
        return doc

    def open(self, request: Request, timeout: tuple[float, float] | None = None) -> Any:
        """Send one request and return the unread `RESTResponse` (blocking)."""
        headers = {"Accept": "application/json"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        serialized = self._api.param_serialize(
            method=request.method,
            resource_path=request.path,
            query_params=request.query or [],
            header_params=headers,
            body=request.body,
            auth_settings=["BearerToken"],
        )
        try:
            return self._api.call_api(*serialized, _request_timeout=timeout or self._timeout)
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            raise unavailable(exc, what=request.what) from exc


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

    async def __aiter__(self) -> AsyncIterator[bytes | str]:
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
                yield item
        finally:
            self._stop()

    def _pump(self, deliver: Any) -> None:
        try:
            resp = self._adapter.open(
                Request("GET", self._path, self._what, self._query),
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
