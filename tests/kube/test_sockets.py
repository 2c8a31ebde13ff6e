"""`SocketTransport` over real sockets: what the socket could not take at once is sent later
and in order, reads reach the protocol, the end is told once and nothing comes after it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from function.kube.sockets import SocketTransport, open_connection
from tests.reconciler.harness import eventually


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.made = 0
        self.data = bytearray()
        self.eof = 0
        self.lost: list[Exception | None] = []
        self.ended = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made += 1

    def data_received(self, data: bytes) -> None:
        assert not self.lost, "data after the end"
        self.data += data

    def eof_received(self) -> bool | None:
        self.eof += 1
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)
        if not self.ended.done():
            self.ended.set_result(None)


async def test_a_write_larger_than_the_socket_takes_arrives_whole_and_in_order() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    theirs.setblocking(False)
    protocol = Recorder()
    transport = SocketTransport(loop, ours, protocol)
    transport.start()
    payload = bytes(range(256)) * 8192  # 2 MiB: far more than the send buffer
    transport.write(payload[:1000])
    transport.write(payload[1000:])
    received = bytearray()
    async with asyncio.timeout(10):
        while len(received) < len(payload):
            received += await loop.sock_recv(theirs, 65536)
    assert received == payload
    await loop.sock_sendall(theirs, b"answer")
    await eventually(lambda: protocol.data == b"answer", within=5, what="the answer")
    theirs.close()  # the peer closes: the end of the stream, told once
    await asyncio.wait_for(protocol.ended, 5)
    await asyncio.sleep(0.05)
    assert (protocol.made, protocol.eof, protocol.lost) == (1, 1, [None])
    assert transport.is_closing() and ours.fileno() == -1
    transport.write(b"more")  # after the end: nothing, no error
    transport.close()
    await asyncio.sleep(0.05)
    assert protocol.lost == [None]


async def test_a_closed_transport_reads_nothing_more_and_a_refused_connection_raises() -> None:
    server = await asyncio.start_server(_talk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    protocol = Recorder()
    transport = await open_connection(protocol, "127.0.0.1", port)
    transport.write(b"hello")
    await eventually(lambda: bool(protocol.data), within=5, what="the answer")
    assert protocol.data.startswith(b"HELLO")
    transport.abort()
    await asyncio.wait_for(protocol.ended, 5)
    assert protocol.lost == [None] and protocol.eof == 0
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await open_connection(Recorder(), "127.0.0.1", port)


async def _talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(5)
    writer.write(data.upper() * 1000)
    await writer.drain()
    await reader.read()  # until the client goes
    writer.close()
