"""What one idle watch costs the reconciler, over plain HTTP and over TLS.

One emulated cluster (in a child process, behind a TLS relay for the ``https`` rows) and
``--watches N`` idle watches of ConfigMaps opened by one `AioAdapter`, each way in turn in
this process: subscribed (`KubeClient.subscribe`, callbacks, no task), iterated (`watch`
consumed by a task of its own, as a caller of the iterator does), and, for scale, a bare
connection through asyncio's own TLS transport (what aiohttp's requests ride on). Printed per
watch: the Python heap (`tracemalloc`) and VmRSS growth, each way in a fresh process, and
each row's ratio to the subscribed one of its scheme.

    python benchmarks/watches.py [--watches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import multiprocessing
import ssl
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.reconciler import rss_kib  # noqa: E402 - the root must be importable first
from function.kube.adapter import configuration_from_kubeconfig  # noqa: E402
from function.kube.aio import AioAdapter  # noqa: E402


def _serve(connection: Connection, cert: str, key: str) -> None:
    """The emulated cluster and a TLS relay in front of it; both kubeconfigs to the parent."""
    from function.testing import Fleet

    ca = base64.b64encode(Path(cert).read_bytes()).decode()

    async def relay(plain: dict[str, Any]) -> None:
        host, port = plain["clusters"][0]["cluster"]["server"].removeprefix("http://").split(":")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, ssl.SSLError):
                pass
            writer.close()

        async def both(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        server = await asyncio.start_server(both, "127.0.0.1", 0, ssl=context)
        tls = dict(plain, clusters=[dict(plain["clusters"][0])])
        tls["clusters"][0]["cluster"] = {
            "server": f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}",
            "certificate-authority-data": ca,
        }
        connection.send((plain, tls))
        await asyncio.get_running_loop().run_in_executor(None, connection.recv)

    with Fleet(simulation=False) as fleet:
        asyncio.run(relay(fleet.add_cluster("c").kubeconfig()))


Open = Callable[[], Awaitable[Any]]


async def per_watch(count: int, open_one: Open) -> tuple[float, float]:
    """Heap and VmRSS growth (KiB) per idle watch opened by ``open_one``."""
    for _ in range(5):  # warm: imports, discovery, the first connection's caches
        await open_one()
    await asyncio.sleep(0.5)
    gc.collect()
    rss = rss_kib()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for _ in range(count):
        await open_one()
    await asyncio.sleep(2.0)  # every watch answered and idle
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    heap = sum(s.size_diff for s in after.compare_to(before, "filename")) / 1024
    return heap / count, (rss_kib() - rss) / count


def opener(way: str, client: AioAdapter, start: str, held: list[Any]) -> Open:
    """Opens one idle watch ``way``, keeping its handle (or task) in ``held``."""
    loop = asyncio.get_running_loop()

    async def consume() -> None:
        async for _ in client.watch("v1", "ConfigMap", resource_version=start):
            pass

    async def subscribed() -> None:
        held.append(
            await client.subscribe(
                "v1",
                "ConfigMap",
                resource_version=start,
                on_event=lambda _: None,
                on_end=lambda _: None,
            )
        )

    async def iterated() -> None:
        held.append(loop.create_task(consume()))
        await asyncio.sleep(0)

    return subscribed if way == "subscribed" else iterated


async def measure(kubeconfig: dict[str, Any], way: str, count: int, ca: str) -> tuple[float, float]:
    """``count`` idle watches of one cluster held ``way``: heap and VmRSS per watch."""
    held: list[Any] = []
    if way == BARE:
        server = kubeconfig["clusters"][0]["cluster"]["server"].removeprefix("https://")
        host, port = server.split(":")
        context = ssl.create_default_context(cafile=ca)
        loop = asyncio.get_running_loop()

        async def connection() -> None:
            transport, _ = await loop.create_connection(
                asyncio.Protocol, host, int(port), ssl=context
            )
            held.append(transport)

        return await per_watch(count, connection)
    config = configuration_from_kubeconfig(kubeconfig)
    config.connection_pool_maxsize = count + 10  # a pool limit would hold watches back
    client = AioAdapter(config)
    start = (await client.list("v1", "ConfigMap")).resource_version
    figures = await per_watch(count, opener(way, client, start, held))
    for handle in held:
        handle.cancel()
    await client.close()
    return figures


BARE = "asyncio TLS transport, bare connection"
WAYS = {"http": ("subscribed", "iterated"), "https": ("subscribed", "iterated", BARE)}


def certificate(directory: Path) -> tuple[str, str]:
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
    return str(cert), str(key)


def main() -> None:
    """Print the cost of an idle watch each way, plain and over TLS, each in a fresh process
    (memory one way freed would be reused by the next)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=200)
    parser.add_argument("--one", nargs=3, metavar=("WAY", "KUBECONFIG", "CA"), help="internal")
    args = parser.parse_args()
    if args.one:
        way, kubeconfig, ca = args.one
        print(json.dumps(asyncio.run(measure(json.loads(kubeconfig), way, args.watches, ca))))
        return
    with tempfile.TemporaryDirectory() as work:
        cert, key = certificate(Path(work))
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.Process(target=_serve, args=(child, cert, key), daemon=True)
        server.start()
        results: dict[str, dict[str, tuple[float, float]]] = {}
        try:
            kubeconfigs = dict(zip(("http", "https"), parent.recv(), strict=True))
            for scheme, ways in WAYS.items():
                results[scheme] = {}
                for way in ways:
                    one = [way, json.dumps(kubeconfigs[scheme]), cert]
                    command = [sys.executable, __file__, "--watches", str(args.watches)]
                    out = subprocess.run(
                        [*command, "--one", *one], check=True, capture_output=True, text=True
                    )
                    heap, rss = json.loads(out.stdout.strip().splitlines()[-1])
                    results[scheme][way] = (heap, rss)
        finally:
            parent.send("stop")
            server.join(10)
    print(f"One idle watch of {args.watches} on one emulated cluster (KiB per watch):")
    for scheme, rows in results.items():
        base_heap, base_rss = rows["subscribed"]
        for way, (heap, rss) in rows.items():
            print(
                f"  {scheme:5} {way:40} heap {heap:6.1f} ({heap / base_heap:5.2f}x)"
                f"  VmRSS {rss:6.1f} ({rss / base_rss:5.2f}x)"
            )


if __name__ == "__main__":
    main()
