"""The default transport: every request and watch of every cluster on the one event loop.

`AioAdapter` sends the `function.kube.rest` requests through an aiohttp session per cluster
(one keep-alive connection pool per cluster), with the credentials and TLS settings of the
`kubernetes` client's `Configuration` (`function.kube.adapter` loads it from a kubeconfig or
the pod's service account; a token that expires is refreshed through the client's own hook,
off the loop). The session lives while the cluster is busy: once no request has run for
`KEEPALIVE_SECONDS` it is closed with its connections, and the next request opens another,
so a settled cluster visited once a resync holds none of it in between. A watch has a
connection of its own, outside the pool: a bare socket (`function.kube.sockets`) read by a
`function.kube.watchstream.WatchProtocol` on the loop's callbacks (TLS included), so a
thousand idle watches cost sockets, not threads, tasks nor transports; a cluster reached
through an HTTP proxy is watched through aiohttp's stream instead. Requests to one cluster
pass a client-side token bucket (`TokenBucket`, client-go's ``QPS``/``Burst``). Once the
process's requests pause, the heap their bursts freed goes back to the system
(`function.kube.heaptrim`). Failures are mapped by `function.kube.errors`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from kubernetes import client as k8s
from yarl import URL

from function.errors import KubeError
from function.kube.client import WatchHandle
from function.kube.errors import error_from_status, unavailable
from function.kube.heaptrim import heap
from function.kube.rest import REQUEST_TIMEOUT, Query, Request, RestClient, decode, encode
from function.kube.sockets import open_connection
from function.kube.watchstream import LineSink, StreamError, WatchProtocol, watch_request
from function.model.objects import Object

DEFAULT_QPS = 20.0
DEFAULT_BURST = 60
"""Per-cluster client-side limits: Sveltos' addon-controller defaults (--kube-api-qps/-burst)."""
USER_AGENT = "aifleet/reconciler"
"""Sent with every request (``aifleet/reconciler (<identity>)`` for a named replica), so the
API server's audit log, and the emulator's write log, tell replicas apart."""
KEEPALIVE_SECONDS = 15.0
"""How long an idle pooled connection is kept, and a session none of whose requests is under
way (with its connector, then its connections): long enough to carry a converge's requests
and a visit's few follow-ups, short enough that a settled cluster, visited once a resync or a
drift check, holds no idle connection (and its buffers) between visits."""
POOL_SIZE = 4
"""Request connections to one workload cluster at once: the client-side rate limit
(`DEFAULT_QPS`) keeps a few in flight, and each one kept costs its buffers (256 KiB of TLS
read buffer in production)."""

_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


class TokenBucket:
    """client-go's token bucket: ``burst`` requests at once, then ``qps`` per second.

    A request that finds no token reserves the next one and waits for it, so waiters are
    served in arrival order. ``qps <= 0`` disables the limit.
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(
        self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it (0 when one was free)."""
        if self.qps <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        """Wait for a token."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class AioAdapter(RestClient):
    """A `KubeClient` on aiohttp for one API server."""

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        qps: float = 0.0,
        burst: int = DEFAULT_BURST,
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
        user_agent: str = USER_AGENT,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        super().__init__(configuration.host)
        self._user_agent = user_agent
        self._base = configuration.host.rstrip("/")
        self._limiter = TokenBucket(qps, burst)
        self._timeout = _client_timeout(*request_timeout)
        self._connect_timeout = request_timeout[0]
        self._ssl = _ssl_context(configuration)
        self._static_auth = None if configuration.refresh_api_key_hook else _auth(configuration)
        self._config = configuration if self._static_auth is None else None
        """Kept only to refresh expiring credentials: a fleet's clients would each hold one."""
        self._proxy = configuration.proxy or None
        self._pool_size = configuration.connection_pool_maxsize or 32
        self._extra = _extra(self._proxy, configuration.tls_server_name or None)
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._busy = 0
        """Requests (and proxied watches) under way on the session."""
        self._last_used = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] | None = None
        """Sessions closing after going idle (None while there are none)."""
        split = urlsplit(self._base)
        self._tls = split.scheme == "https"
        self._address = (split.hostname or "", split.port or (443 if self._tls else 80))
        self._netloc = split.netloc.rpartition("@")[2]
        self._target = split.path
        self._server_hostname = (configuration.tls_server_name or None) if self._tls else None

    async def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _request(self, request: Request) -> Object:
        headers = await self._headers()
        data = None
        if request.body is not None:
            body = request.body
            data = body if isinstance(body, bytes) else encode(body)
            headers["Content-Type"] = request.content_type or "application/json"
        what = request.what
        url = self._url(request.path, request.query)
        self._busy += 1
        try:
            await self._limiter.acquire()
            async with self._open_session().request(
                request.method, url, data=data, headers=headers, **self._extra
            ) as resp:
                payload = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except _TRANSPORT_ERRORS as exc:
            raise unavailable(exc, what=what) from exc
        finally:
            self._done()
        if status >= 400:
            raise error_from_status(status, payload, answer_headers, what=what)
        doc: Object = decode(payload) if payload else {}
        return doc

    async def _subscribe_lines(
        self, path: str, query: Query, timeout_seconds: int, sink: LineSink, *, what: str
    ) -> WatchHandle:
        if self._proxy:  # through aiohttp, which speaks to proxies
            return await super()._subscribe_lines(path, query, timeout_seconds, sink, what=what)
        headers = await self._headers()
        await self._limiter.acquire()
        target = self._target + path + "?" + urlencode(query)
        tls = self._ssl if self._tls and isinstance(self._ssl, ssl.SSLContext) else None
        hostname = self._server_hostname or self._address[0]
        protocol = WatchProtocol(watch_request(self._netloc, target, headers), tls, hostname)
        del headers, target, path, query  # not held while the watch waits
        head = protocol.head
        assert head is not None
        try:
            await asyncio.wait_for(open_connection(protocol, *self._address), self._connect_timeout)
            answer, body = await asyncio.wait_for(head, self._timeout.sock_read)
        except (*_TRANSPORT_ERRORS, StreamError) as exc:
            protocol.cancel()
            raise unavailable(exc, what=what) from exc
        except BaseException:
            protocol.cancel()
            raise
        del head
        if answer.status >= 400:
            raise error_from_status(answer.status, body, answer.headers, what=what)
        protocol.attach(_Unavailable(sink, what), timeout_seconds + 30.0)
        return protocol

    async def _lines(
        self, path: str, query: Query, timeout_seconds: int, *, what: str
    ) -> AsyncIterator[bytes | str]:
        if self._proxy:
            async for proxied in self._proxied_lines(path, query, timeout_seconds, what=what):
                yield proxied
            return
        queue = _LineQueue()
        handle = await self._subscribe_lines(path, query, timeout_seconds, queue, what=what)
        try:
            while (line := await queue.next()) is not None:
                yield line
                del line
        finally:
            handle.cancel()

    async def _proxied_lines(
        self, path: str, query: Query, timeout_seconds: int, *, what: str
    ) -> AsyncIterator[bytes]:
        headers = await self._headers()
        await self._limiter.acquire()
        timeout = aiohttp.ClientTimeout(
            sock_connect=self._connect_timeout, sock_read=timeout_seconds + 30.0
        )
        url = self._url(path, query)
        self._busy += 1
        try:
            resp = await self._open_session().get(
                url, headers=headers, timeout=timeout, **self._extra
            )
        except _TRANSPORT_ERRORS as exc:
            self._done()
            raise unavailable(exc, what=what) from exc
        except BaseException:
            self._done()
            raise
        try:
            if resp.status >= 400:
                raise error_from_status(resp.status, await resp.read(), resp.headers, what=what)
            buffer = bytearray()
            # Lines are split here rather than by `StreamReader.readline`, whose 64 KiB limit
            # a watch event of a large CRD exceeds.
            while chunk := await resp.content.readany():
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end]).strip()
                    del buffer[: end + 1]
                    if line:
                        yield line
            if buffer.strip():
                yield bytes(buffer).strip()
        except KubeError:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise unavailable(exc, what=what) from exc
        finally:
            resp.release()
            self._done()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, ssl=self._ssl, keepalive_timeout=self._keepalive
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                skip_auto_headers=("User-Agent",),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # as the `kubernetes` client: no cookies
            )
        return self._session

    def _done(self) -> None:
        """A request ended: once none has run for the keep-alive, the session goes."""
        self._busy -= 1
        self._last_used = time.monotonic()
        heap.used()
        if self._busy == 0 and self._idle_timer is None and self._session is not None:
            self._idle_timer = asyncio.get_running_loop().call_later(self._keepalive, self._idle)

    def _idle(self) -> None:
        self._idle_timer = None
        if self._busy or self._session is None:
            return
        left = self._last_used + self._keepalive - time.monotonic()
        if left > 0:  # used again since the timer was set
            self._idle_timer = asyncio.get_running_loop().call_later(left, self._idle)
            return
        session, self._session = self._session, None
        task = asyncio.get_running_loop().create_task(session.close())
        if self._closing is None:
            self._closing = set()
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        if self._closing is not None:
            self._closing.discard(task)
            if not self._closing:
                self._closing = None

    def _url(self, path: str, query: Query | None) -> URL:
        text = self._base + path
        if query:
            text += "?" + urlencode(query)
        return URL(text, encoded=True)

    async def _headers(self) -> dict[str, str]:
        if self._static_auth is not None:
            auth = self._static_auth
        else:  # an exec plugin or an auth provider may run a command: not on the loop
            assert self._config is not None
            auth = await asyncio.to_thread(_auth, self._config)
        return {"Accept": "application/json", "User-Agent": self._user_agent, **auth}


class _Unavailable:
    """A sink whose end names a broken stream as the `UnavailableError` it is."""

    __slots__ = ("_sink", "_what")

    def __init__(self, sink: LineSink, what: str) -> None:
        self._sink = sink
        self._what = what

    def line(self, line: bytes) -> None:
        self._sink.line(line)

    def end(self, error: BaseException | None) -> None:
        if isinstance(error, (*_TRANSPORT_ERRORS, StreamError)):
            error = unavailable(error, what=self._what)
        self._sink.end(error)


class _LineQueue:
    """A sink read by an iterator: lines in arrival order, then the end (raised if it was
    a failure)."""

    def __init__(self) -> None:
        self._lines: deque[bytes] = deque()
        self._end: tuple[BaseException | None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def line(self, line: bytes) -> None:
        self._lines.append(line)
        self._wake()

    def end(self, error: BaseException | None) -> None:
        self._end = (error,)
        self._wake()

    async def next(self) -> bytes | None:
        """The next line; None at a clean end."""
        while not self._lines:
            if self._end is not None:
                if self._end[0] is not None:
                    raise self._end[0]
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._lines.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def user_agent(identity: str) -> str:
    """The User-Agent of a replica named ``identity`` (the plain one without a name)."""
    return f"{USER_AGENT} ({identity})" if identity else USER_AGENT


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _extra(proxy: str | None, server_hostname: str | None) -> Mapping[str, Any]:
    """What every request of a client passes to aiohttp besides its own arguments (most
    clients: nothing, one mapping for all of them)."""
    extra: dict[str, Any] = {}
    if proxy:
        extra["proxy"] = proxy
    if server_hostname:
        extra["server_hostname"] = server_hostname
    return extra or _NO_EXTRA


@functools.cache
def _client_timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    """aiohttp's (immutable) timeouts, one for every client with the same ones."""
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read)


def _auth(configuration: k8s.Configuration) -> dict[str, str]:
    """The request headers of the configuration's credentials (a bearer token, if any)."""
    headers = {}
    settings: Any = configuration.auth_settings()
    for setting in settings.values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[str(setting["key"])] = str(setting["value"])
    return headers


_contexts: weakref.WeakValueDictionary[tuple[Any, ...], ssl.SSLContext] = (
    weakref.WeakValueDictionary()
)
"""TLS contexts by what they were built from: a fleet's clusters that share a CA and client
credentials (or none) share one context, its parsed CA bundle and certificate chain, rather
than one each; a context no client uses any more goes with its last client."""


def _ssl_context(configuration: k8s.Configuration) -> ssl.SSLContext | bool:
    """TLS as the `kubernetes` client would set it up (CA, client certificate, verification),
    shared between clients whose settings and files hold the same bytes."""
    if not configuration.host.startswith("https"):
        return True
    key = (
        _digest(configuration.ssl_ca_cert),
        _digest(configuration.cert_file),
        _digest(configuration.key_file),
        bool(configuration.verify_ssl),
        configuration.assert_hostname is False,
    )
    context = _contexts.get(key)
    if context is None:
        context = _new_ssl_context(configuration)
        _contexts[key] = context
    return context


def _digest(path: str | None) -> str:
    """The content digest of a credential file (the client writes kubeconfig data to
    temporary files of its own, so equal credentials come under different names)."""
    if not path:
        return ""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def _new_ssl_context(configuration: k8s.Configuration) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context
