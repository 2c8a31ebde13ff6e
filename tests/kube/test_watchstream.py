"""A watch read by `WatchProtocol`: lines whole however the bytes are split, the end told once,
errors named; over a real connection that delivers a few bytes at a time, and over TLS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.errors import GoneError, UnavailableError
from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import AioAdapter
from function.kube.client import EventType, WatchEvent
from function.kube.watchstream import SWEEP_SECONDS, StreamError, WatchProtocol
from function.testing import EmulatedCluster, Fleet
from tests.reconciler.harness import eventually

EVENTS = [
    {"type": "ADDED", "object": {"metadata": {"name": "a"}, "data": {"k": "x" * 40}}},
    {"type": "MODIFIED", "object": {"metadata": {"name": "a"}, "data": {"k": "é\n"}}},
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
]
LINES = [json.dumps(e).encode() for e in EVENTS]


def chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


class Sink:
    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.ends: list[BaseException | None] = []

    def line(self, line: bytes) -> None:
        assert not self.ends, "a line after the end"
        self.lines.append(line)

    def end(self, error: BaseException | None) -> None:
        self.ends.append(error)


def feed(protocol: WatchProtocol, data: bytes, cuts: list[int]) -> None:
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > start:
            protocol.data_received(data[start:cut])
            start = cut


async def read(response: bytes, cuts: list[int], *, attach_first: bool = True) -> Sink:
    protocol = WatchProtocol(b"")
    sink = Sink()
    head = protocol.head
    assert head is not None
    if attach_first:
        protocol.data_received(response[: response.index(b"\r\n\r\n") + 4])
        assert head.done()
        protocol.attach(sink, 60)
        response = response[response.index(b"\r\n\r\n") + 4 :]
    feed(protocol, response, cuts)
    if not attach_first:
        protocol.attach(sink, 60)
    return sink


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.lists(st.integers(min_value=0, max_value=400), max_size=40),
)
async def test_every_line_arrives_whole_however_the_chunks_and_reads_split_it(
    data: st.DataObject, cuts: list[int]
) -> None:
    stream = b"\n".join(LINES) + b"\n"
    boundaries = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    edges = [0, *sorted(set(boundaries)), len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(edges)]
    sink = await read(chunked(pieces), cuts, attach_first=data.draw(st.booleans()))
    assert [json.loads(line) for line in sink.lines] == EVENTS
    assert sink.ends == [None]


async def test_a_chunk_split_mid_line_and_mid_size_is_read_across_reads() -> None:
    one, two = LINES[0], LINES[1]
    response = chunked([one[:10], one[10:] + b"\n" + two[:5], two[5:] + b"\n"])
    head_end = response.index(b"\r\n\r\n") + 4
    size_line = response.index(b";ext", head_end)
    protocol = WatchProtocol(b"")
    sink = Sink()
    protocol.data_received(response[: head_end + 1])  # the chunk size cut after one digit
    protocol.attach(sink, 60)
    protocol.data_received(response[head_end + 1 : size_line + 2])
    protocol.data_received(response[size_line + 2 : size_line + 20])
    assert sink.lines == []  # the first line is not complete yet
    protocol.data_received(response[size_line + 20 :])
    assert sink.lines == [one, two]
    assert sink.ends == [None]


async def test_a_body_cut_short_is_an_error_and_an_error_status_carries_its_body() -> None:
    protocol = WatchProtocol(b"")
    sink = Sink()
    response = chunked([LINES[0] + b"\n"])
    protocol.data_received(response[:-5])
    protocol.attach(sink, 60)
    protocol.connection_lost(None)
    assert sink.lines == [LINES[0]]
    assert len(sink.ends) == 1 and isinstance(sink.ends[0], StreamError)

    refused = WatchProtocol(b"")
    head = refused.head
    assert head is not None
    status = json.dumps({"kind": "Status", "code": 410, "reason": "Expired"}).encode()
    refused.data_received(b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n" % len(status))
    assert not head.done()  # the body names the reason: wait for it
    refused.data_received(status)
    answer, body = head.result()
    assert (answer.status, json.loads(body)["reason"]) == (410, "Expired")


async def test_a_watch_the_server_never_ends_times_out_at_its_deadline_and_no_other() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    stuck, ended, later = WatchProtocol(b""), WatchProtocol(b""), WatchProtocol(b"")
    sinks = {name: Sink() for name in ("stuck", "ended", "later")}
    for protocol in (stuck, ended, later):
        protocol.data_received(head)
    stuck.attach(sinks["stuck"], 0.2)
    ended.attach(sinks["ended"], 0.2)
    later.attach(sinks["later"], 60)
    ended.data_received(b"0\r\n\r\n")  # the server ends this one in time
    started = asyncio.get_running_loop().time()
    await eventually(lambda: bool(sinks["stuck"].ends), within=5, what="the timeout")
    waited = asyncio.get_running_loop().time() - started
    assert len(sinks["stuck"].ends) == 1 and isinstance(sinks["stuck"].ends[0], TimeoutError)
    assert 0.1 < waited < 0.2 + 2 * SWEEP_SECONDS
    assert sinks["ended"].ends == [None]  # ended once, cleanly: no timeout after it
    assert sinks["later"].ends == []
    stuck.data_received(b"5\r\nhello\r\n")  # after the end: nothing more
    assert sinks["stuck"].lines == []
    later.cancel()


# --- over a real connection ---------------------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    with Fleet(simulation=False) as fleet:
        yield fleet.add_cluster("c")


@pytest.fixture
async def trickle(cluster: EmulatedCluster) -> AsyncIterator[dict[str, Any]]:
    """A kubeconfig for the cluster through a relay that hands a watch's response to the
    client 7 bytes at a time, so that every chunk and line spans several reads."""
    upstream = cluster.kubeconfig()["clusters"][0]["cluster"]["server"]
    host, port = upstream.removeprefix("http://").split(":")

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        first = await reader.read(65536)
        slow = b"watch=true" in first
        up_writer.write(first)

        async def upward() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
            up_writer.close()

        task = asyncio.create_task(upward())
        try:
            while data := await up_reader.read(65536):
                for start in range(0, len(data), 7 if slow else len(data)):
                    writer.write(data[start : start + (7 if slow else len(data))])
                    await writer.drain()
                    if slow:
                        await asyncio.sleep(0.001)
        finally:
            task.cancel()
            writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    relay_port = server.sockets[0].getsockname()[1]
    kubeconfig = cluster.kubeconfig()
    kubeconfig["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{relay_port}"
    yield kubeconfig
    server.close()


async def test_a_subscribed_watch_reads_events_split_across_many_reads(
    cluster: EmulatedCluster, trickle: dict[str, Any]
) -> None:
    client = AioAdapter(configuration_from_kubeconfig(trickle))
    try:
        start = (await client.list("v1", "ConfigMap", namespace="default")).resource_version
        for value in ("1", "2" * 3000):
            cluster.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "w", "namespace": "default"},
                    "data": {"k": value},
                },
                field_manager="test",
            )
        events: list[WatchEvent] = []
        ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        handle = await client.subscribe(
            "v1",
            "ConfigMap",
            resource_version=start,
            timeout_seconds=1,
            on_event=events.append,
            on_end=ended.set_result,
        )
        assert await asyncio.wait_for(ended, 10) is None  # the server's timeout ends it
        handle.cancel()
        changes = [(e.type, e.object["data"]["k"]) for e in events if e.type != "BOOKMARK"]
        assert changes == [(EventType.ADDED, "1"), (EventType.MODIFIED, "2" * 3000)]
    finally:
        await client.close()


async def test_a_subscription_hears_an_expired_version_an_ended_watch_and_a_lost_server(
    cluster: EmulatedCluster,
) -> None:
    client = AioAdapter(configuration_from_kubeconfig(cluster.kubeconfig()))
    loop = asyncio.get_running_loop()

    async def subscribe() -> asyncio.Future[BaseException | None]:
        ended: asyncio.Future[BaseException | None] = loop.create_future()
        await client.subscribe(
            "v1",
            "ConfigMap",
            resource_version=start,
            on_event=lambda _: None,
            on_end=ended.set_result,
        )
        return ended

    try:
        start = (await client.list("v1", "ConfigMap")).resource_version
        cluster.faults.fail(410, verb="watch", kind="ConfigMap")
        with pytest.raises(GoneError):
            await subscribe()
        ended = await subscribe()
        cluster.faults.drop_watches("ConfigMap")
        assert await asyncio.wait_for(ended, 10) is None  # the server ended it: resume
        ended = await subscribe()
        with cluster.faults.offline():
            error = await asyncio.wait_for(ended, 10)
            assert isinstance(error, UnavailableError), error
            assert "watch ConfigMap" in str(error)
            with pytest.raises(UnavailableError):
                await subscribe()
    finally:
        await client.close()


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=emulator", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def _tls_relay(upstream: str, cert: Path, key: Path) -> asyncio.Server:
    """A TLS endpoint that passes the plain bytes on to ``upstream`` (host:port) and back."""
    host, port = upstream.removeprefix("http://").split(":")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)


async def test_a_watch_over_tls_verifies_the_server_and_reads_its_events(
    cluster: EmulatedCluster, tmp_path: Path
) -> None:
    cert, key = _certificate(tmp_path)
    server = await _tls_relay(cluster.kubeconfig()["clusters"][0]["cluster"]["server"], cert, key)
    port = server.sockets[0].getsockname()[1]

    def kubeconfig(ca: bytes) -> dict[str, Any]:
        config = cluster.kubeconfig()
        config["clusters"][0]["cluster"] = {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": base64.b64encode(ca).decode(),
        }
        return config

    client = AioAdapter(configuration_from_kubeconfig(kubeconfig(cert.read_bytes())))
    try:
        start = (await client.list("v1", "ConfigMap", namespace="default")).resource_version
        events: list[WatchEvent] = []
        ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        await client.subscribe(
            "v1",
            "ConfigMap",
            resource_version=start,
            timeout_seconds=1,
            on_event=events.append,
            on_end=ended.set_result,
        )
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "w", "namespace": "default"},
                "data": {"k": "x" * 100_000},  # many TLS records
            },
            field_manager="test",
        )
        assert await asyncio.wait_for(ended, 10) is None
        changes = [e.object["data"]["k"] for e in events if e.type != "BOOKMARK"]
        assert changes == ["x" * 100_000]

        (tmp_path / "other").mkdir()
        other, _ = _certificate(tmp_path / "other")  # a server this CA did not sign
        untrusting = WatchProtocol(b"GET / HTTP/1.1\r\n\r\n", _trusting(other), "127.0.0.1")
        head = untrusting.head
        assert head is not None
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: untrusting, "127.0.0.1", port)
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(head, 10)
    finally:
        await client.close()
        server.close()


def _trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))
