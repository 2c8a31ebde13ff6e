"""One watch as an `asyncio.Protocol`: an idle watch is a socket and a small parser, no task.

A fleet's reconciler keeps one watch open per applied kind and cluster, nearly all of them
idle; read through an HTTP client library, each holds a task, its coroutine frames, a stream
reader and the library's response objects (about 8 KiB of heap). `WatchProtocol` reads the
response on the event loop's callbacks instead: `data_received` parses the status line and
headers, then the body (chunked, as kube-apiserver sends a watch, or sized, or read to the
close), splits it into JSON lines in a small bytearray (a line may span any number of reads and
chunks) and hands each non-empty line to a `LineSink`. While it waits it holds the transport,
its socket and a few integers; nothing of the last event. A watch's deadline (the server
should have ended it by then) is a number on it, checked with every other open watch's of
the loop by one sweep a second (`_Deadlines`), not an asyncio timer of its own (a timer, its
bound callback and its context copy are 270 bytes a watch).

TLS is done here too, over memory buffers (`ssl.SSLObject`): asyncio's own TLS transport
gives every connection a 256 KiB read buffer for as long as it is open, which for a fleet's
idle watches would dwarf everything else they hold.

The HTTP/1.1 request itself (`watch_request`) is the one GET a watch needs. The caller
(`function.kube.aio`) opens the connection, waits for `head`, and maps the outcome to the
`function.errors` types; this module knows HTTP, not Kubernetes.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import Mapping
from typing import Protocol

MAX_HEAD = 64 * 1024
"""The largest status line and headers accepted (kube-apiserver's are well under 1 KiB)."""

_TLS_READ = 64 * 1024
"""The most plaintext taken out of TLS at once."""

SWEEP_SECONDS = 1.0
"""How often the open watches' deadlines are checked: a watch ends at most this late."""

_HEAD, _SIZE, _DATA, _TRAILER, _SIZED, _TO_CLOSE, _DONE = range(7)
"""Parser states: reading the head, a chunk-size line, chunk data, the trailer, a body of
known length, a body read to the close, finished."""


_READ: dict[str, str] = {}
"""The headers of a response once they were handed on (never written: read once)."""


class LineSink(Protocol):
    """Where a watch's lines go: each non-empty line, then the end (None: the server ended
    the body cleanly; else why the stream broke). Nothing is called after `end`."""

    def line(self, line: bytes) -> None: ...

    def end(self, error: BaseException | None) -> None: ...


class StreamError(Exception):
    """The response broke the HTTP/1.1 framing, or the connection went before its end."""


class Head:
    """The status and headers of the response (names lower-cased)."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers


def watch_request(host: str, target: str, headers: Mapping[str, str]) -> bytes:
    """The GET of ``target`` (path and query, already encoded) as HTTP/1.1 bytes."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WatchProtocol(asyncio.Protocol):
    """The client side of one watch connection.

    ``head`` resolves with the response's `Head` once it has arrived, for a success; for an
    error status (400 and up) it resolves once the whole error body has been read, with the
    body, so that the caller can name the server's reason. After a successful head, lines go
    to the sink set with `attach`; lines that arrive before it is attached are held.
    """

    __slots__ = (
        "_buffer",
        "_deadline",
        "_error_body",
        "_headers",
        "_held",
        "_line",
        "_outcome",
        "_remaining",
        "_request",
        "_sink",
        "_state",
        "_status",
        "_tls",
        "_tls_in",
        "_tls_out",
        "_transport",
        "head",
    )

    def __init__(
        self, request: bytes, tls: ssl.SSLContext | None = None, server_hostname: str = ""
    ) -> None:
        loop = asyncio.get_running_loop()
        self.head: asyncio.Future[tuple[Head, bytes]] | None = loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._request: bytes | None = request
        self._state = _HEAD
        self._buffer: bytes | bytearray = bytearray()
        self._line: bytes | bytearray = b""
        self._remaining = 0
        self._sink: LineSink | None = None
        self._held: list[bytes] | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._error_body: bytearray | None = None
        self._deadline: float | None = None
        """When, on the loop's clock, the body should have ended; None: no deadline."""
        self._outcome: tuple[BaseException | None] | None = None
        """How the body ended, while no sink was attached to hear it."""
        self._tls: ssl.SSLObject | None = None
        self._tls_in: ssl.MemoryBIO | None = None
        self._tls_out: ssl.MemoryBIO | None = None
        if tls is not None:
            self._tls_in, self._tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._tls = tls.wrap_bio(
                self._tls_in, self._tls_out, server_hostname=server_hostname or None
            )

    # --- what the caller does -------------------------------------------------------------

    def attach(self, sink: LineSink, deadline: float) -> None:
        """Send lines (and the end) to ``sink`` from now on; end with a `TimeoutError` if the
        body has not ended ``deadline`` seconds from now."""
        self._sink = sink
        held, self._held = self._held, None
        for line in held or ():
            if self._sink is None:
                return
            self._deliver(line)
        if self._outcome is not None:
            self._finish(self._outcome[0])
        elif self._sink is not None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + deadline
            _deadlines(loop).add(self)

    def cancel(self) -> None:
        """Stop reading: the sink hears nothing more."""
        self._sink = None
        self._state = _DONE
        self._clear_deadline()
        if self._transport is not None:
            self._transport.abort()
            self._transport = None

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._tls is None:
            self._send_request()
            return
        try:
            self._handshake()
        except ssl.SSLError as exc:
            self._broken(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._state == _TO_CLOSE:
            self._body_ended()
        elif self._state != _DONE:
            self._broken(StreamError(f"the connection closed before the response ended: {exc}"))

    def data_received(self, data: bytes) -> None:
        try:
            if self._tls is None:
                self._plain_received(data)
            else:
                self._tls_received(data)
        except (StreamError, ssl.SSLError) as exc:
            self._broken(exc)

    # --- TLS ------------------------------------------------------------------------------

    def _handshake(self) -> None:
        assert self._tls is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        self._flush()
        self._send_request()

    def _tls_received(self, data: bytes) -> None:
        assert self._tls is not None and self._tls_in is not None
        self._tls_in.write(data)
        if self._request is not None:  # still shaking hands
            self._handshake()
            if self._request is not None:
                return
        while self._state != _DONE:
            try:
                plain = self._tls.read(_TLS_READ)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the server closed TLS: the body ends here
                if self._state == _TO_CLOSE:
                    self._body_ended()
                break
            if not plain:
                break
            self._plain_received(plain)
        self._flush()  # what reading may have to answer (a key update)

    def _flush(self) -> None:
        assert self._tls_out is not None
        data = self._tls_out.read()
        if data and self._transport is not None:
            self._transport.write(data)

    def _send_request(self) -> None:
        request, self._request = self._request, None
        if request is None or self._transport is None:
            return
        if self._tls is None:
            self._transport.write(request)
        else:
            self._tls.write(request)
            self._flush()

    def _plain_received(self, data: bytes) -> None:
        if self._state == _HEAD:
            self._buffer += data
            data = self._read_head()
        if data:
            self._read_body(data)

    def eof_received(self) -> bool | None:
        return False  # let the transport close: connection_lost says how the body ended

    # --- parsing --------------------------------------------------------------------------

    def _read_head(self) -> bytes:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise StreamError(f"response headers longer than {MAX_HEAD} bytes")
            return b""
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        rest = bytes(self._buffer[end + 4 :])
        self._buffer = b""
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise StreamError(f"not an HTTP/1.1 status line: {head[0][:80]!r}")
        self._status = int(parts[1])
        for field in head[1:]:
            name, sep, value = field.partition(":")
            if not sep:
                raise StreamError(f"not a header: {field[:80]!r}")
            self._headers[name.strip().lower()] = value.strip()
        if self._status >= 400:
            self._error_body = bytearray()
        if "chunked" in self._headers.get("transfer-encoding", "").lower():
            self._state = _SIZE
        elif "content-length" in self._headers:
            length = self._headers["content-length"]
            if not length.isdigit():
                raise StreamError(f"not a content length: {length[:80]!r}")
            self._remaining = int(length)
            self._state = _SIZED
        else:
            self._state = _TO_CLOSE
        if self._status < 400:
            self._resolve_head(b"")
        if self._state == _SIZED and self._remaining == 0:
            self._body_ended()
        return rest

    def _read_body(self, data: bytes) -> None:
        pos, size = 0, len(data)
        while pos < size and self._state != _DONE:
            state = self._state
            if state in (_DATA, _SIZED):
                take = min(self._remaining, size - pos)
                self._content(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _SIZED:
                        self._body_ended()
                    else:
                        self._state = _SIZE
            elif state == _TO_CLOSE:
                self._content(data[pos:] if pos else data)
                pos = size
            else:  # a chunk-size or trailer line, which may itself be split between reads
                end = data.find(b"\n", pos)
                if end < 0:
                    self._buffer += data[pos:]
                    if len(self._buffer) > MAX_HEAD:
                        raise StreamError("a chunk-size line without an end")
                    return
                self._buffer += data[pos:end]
                pos = end + 1
                line = bytes(self._buffer).strip()
                self._buffer = b""
                if state == _TRAILER:
                    if not line:
                        self._body_ended()
                elif line:  # the CRLF after a chunk's data reads as an empty line
                    self._chunk_size(line)

    def _chunk_size(self, line: bytes) -> None:
        text = line.split(b";", 1)[0].strip()
        try:
            self._remaining = int(text, 16)
        except ValueError:
            raise StreamError(f"not a chunk size: {text[:80]!r}") from None
        if self._remaining < 0:
            raise StreamError(f"not a chunk size: {text[:80]!r}")
        self._state = _TRAILER if self._remaining == 0 else _DATA

    def _content(self, piece: bytes) -> None:
        if self._error_body is not None:
            self._error_body += piece
            return
        start = 0
        while (end := piece.find(b"\n", start)) >= 0:
            if self._line:
                self._line += piece[start:end]
                line = bytes(self._line).strip()
                self._line = b""
            else:
                line = piece[start:end].strip()
            start = end + 1
            if line:
                self._deliver(line)
            if self._state == _DONE:
                return
        if start < len(piece):
            tail = piece[start:] if start else piece
            if self._line:
                self._line += tail
            else:  # a bytearray only while a line is unfinished: an idle watch holds b""
                self._line = bytearray(tail)

    def _deliver(self, line: bytes) -> None:
        if self._sink is not None:
            try:
                self._sink.line(line)
            except Exception as exc:  # the sink's verdict on a line ends the watch
                self._finish(exc)
        elif self._state != _DONE:
            if self._held is None:
                self._held = []
            self._held.append(line)

    def _body_ended(self) -> None:
        if self._error_body is not None:
            self._state = _DONE
            self._resolve_head(bytes(self._error_body))
            self._error_body = None
            self._drop_transport()
            return
        tail = bytes(self._line).strip()
        self._line = b""
        if tail:
            self._deliver(tail)
        if self._state != _DONE:
            self._finish(None)

    # --- endings --------------------------------------------------------------------------

    def _resolve_head(self, body: bytes) -> None:
        head, self.head = self.head, None
        if head is not None and not head.done():
            head.set_result((Head(self._status, self._headers), body))
        self._headers = _READ

    def _broken(self, exc: BaseException) -> None:
        head, self.head = self.head, None
        if head is not None:
            if not head.done():
                head.set_exception(exc)
            self._state = _DONE
            self._drop_transport()
            return
        self._finish(exc)

    def _timed_out(self) -> None:
        self._deadline = None
        self._finish(TimeoutError("the watch did not end at its timeout"))

    def _finish(self, error: BaseException | None) -> None:
        sink, self._sink = self._sink, None
        self._state = _DONE
        self._clear_deadline()
        self._drop_transport()
        if sink is not None:
            sink.end(error)
        elif self._outcome is None:
            self._outcome = (error,)

    def _clear_deadline(self) -> None:
        self._deadline = None  # the next sweep lets go of the watch

    def _drop_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


class _Deadlines:
    """The open watches of one loop that have a deadline, swept once every `SWEEP_SECONDS`
    while there are any: one timer for a thousand watches instead of one each. A watch that
    ended (its deadline cleared) is let go at the next sweep."""

    __slots__ = ("_armed", "_watches")

    def __init__(self) -> None:
        self._watches: set[WatchProtocol] = set()
        self._armed = False

    def add(self, watch: WatchProtocol) -> None:
        self._watches.add(watch)
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        done = [w for w in self._watches if w._deadline is None or w._deadline <= now]
        self._watches.difference_update(done)
        for watch in done:
            if watch._deadline is not None:
                watch._timed_out()
        self._armed = bool(self._watches)
        if self._armed:
            loop.call_later(SWEEP_SECONDS, self._sweep)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)
"""Each running loop's deadlines (they hold no reference to their loop: it goes when done)."""


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    found = _sweeps.get(loop)
    if found is None:
        found = _sweeps[loop] = _Deadlines()
    return found
