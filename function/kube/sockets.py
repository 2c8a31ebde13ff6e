"""A watch's connection as a bare non-blocking socket read on the event loop's callbacks.

An idle watch is most of what a settled fleet's reconciler holds per cluster, one per applied
kind. Through `loop.create_connection` each one also kept asyncio's socket transport: the
transport object and its dictionary, the socket's wrapper, its local and peer addresses, the
loop's weak reference to it, its write buffer (about 1 KiB of heap). A watch sends one small
request and then only reads, so `SocketTransport` drives its `asyncio.Protocol` (a
`function.kube.watchstream.WatchProtocol`) with the socket and the loop's reader callback
alone: the socket, its selector registration and five slots.

It does what the protocol asks of a transport (`write`, `close`, `abort`) with the same
callbacks asyncio would make (`connection_made`, `data_received`, `eof_received`,
`connection_lost` once, after which nothing more), and `open_connection` connects it as
`loop.create_connection` would (each address the name resolves to in turn, no delay).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

READ_SIZE = 256 * 1024
"""The most read at once (what asyncio's socket transport reads)."""


class SocketTransport(asyncio.Transport):
    """An `asyncio.Transport` over a connected non-blocking socket, for a reading protocol."""

    __slots__ = ("_loop", "_out", "_protocol", "_sock")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._sock = sock
        self._protocol = protocol
        self._out: bytearray | None = None
        """What the socket did not take yet (a TLS handshake may not fit a send)."""

    def start(self) -> None:
        """Tell the protocol it is connected, and read from now on."""
        assert self._loop is not None
        self._loop.add_reader(self._sock.fileno(), self._readable)
        self._protocol.connection_made(self)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._loop is None or not data:
            return
        if self._out is not None:
            self._out += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):
            self._out = bytearray(data[sent:])
            self._loop.add_writer(self._sock.fileno(), self._writable)

    def close(self) -> None:
        self._lost(None)

    def abort(self) -> None:
        self._lost(None)

    def is_closing(self) -> bool:
        return self._loop is None

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._sock if name == "socket" and self._loop is not None else default

    def _readable(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._protocol.eof_received()
            self._lost(None)
            return
        self._protocol.data_received(data)

    def _writable(self) -> None:
        assert self._out is not None
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._out[:sent]
        if not self._out and self._loop is not None:
            self._out = None
            self._loop.remove_writer(self._sock.fileno())

    def _lost(self, exc: Exception | None) -> None:
        """Stop reading and writing, close the socket, then tell the protocol (once)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        fd = self._sock.fileno()
        loop.remove_reader(fd)
        if self._out is not None:
            loop.remove_writer(fd)
            self._out = None
        self._sock.close()
        loop.call_soon(self._protocol.connection_lost, exc)


async def open_connection(protocol: asyncio.Protocol, host: str, port: int) -> SocketTransport:
    """A TCP connection to ``host``:``port`` read by ``protocol`` (its `connection_made`
    called); the last address's error if none answers."""
    loop = asyncio.get_running_loop()
    infos: list[tuple[int, int, int, Any]]
    if _is_address(host):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        infos = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (host, port))]
    else:
        resolved = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        infos = [(info[0], info[1], info[2], info[4]) for info in resolved]
    if not infos:
        raise OSError(f"{host} has no address")
    error: OSError | None = None
    for domain, kind, proto, address in infos:
        sock = socket.socket(domain, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        transport = SocketTransport(loop, sock, protocol)
        transport.start()
        return transport
    assert error is not None
    raise error


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
