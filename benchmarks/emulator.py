"""The Kubernetes API emulator: requests/s, O(1) store operations, memory of an idle fleet.

Three measurements, each printed with its ratio against a baseline run side by side:

* **Throughput.** One emulated cluster (1,000 ConfigMaps, 20 of them labelled) against a bare
  aiohttp low-level server that answers with the very bytes the emulator returned for the same
  request: the floor of an HTTP server in Python on this machine. Both run on their own
  background loop; an aiohttp client keeps ``--in-flight`` requests going for ``--seconds``.
  Workloads: get, a label-selected list, a no-op server-side apply, a create. Then the same
  comparison through the real `kubernetes` client (typed `read_namespaced_config_map`, from
  threads), which is how the reconciler talks to it.
* **Store scaling.** In-process get and label-selected list with 10 objects against 10,000
  objects in the namespace: the ratio shows the cost does not grow with the store.
* **Memory.** RSS growth of a process that starts ``--clusters`` idle clusters (simulation on)
  against one that starts as many bare aiohttp listeners, each in a fresh subprocess.

    python benchmarks/emulator.py [--seconds 2] [--in-flight 16] [--clusters 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.testing import Fleet  # noqa: E402
from function.testing.selectors import parse_label_selector  # noqa: E402
from function.testing.targets import WriteOptions  # noqa: E402

APPLY = "application/apply-patch+yaml"
T = TypeVar("T")


@dataclass(frozen=True)
class Workload:
    """One kind of request."""

    name: str
    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"


def workloads() -> list[Workload]:
    """The requests measured."""
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied"},
        "data": {"key": "value"},
    }
    created = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "new-"}}
    namespace = "/api/v1/namespaces/default/configmaps"
    return [
        Workload("get", "GET", f"{namespace}/cm-0"),
        Workload("list 20 of 1,000 by label", "GET", f"{namespace}?labelSelector=app%3Dbench"),
        Workload(
            "apply (no-op)",
            "PATCH",
            f"{namespace}/applied?fieldManager=bench",
            json.dumps(applied).encode(),
            APPLY,
        ),
        Workload("create", "POST", namespace, json.dumps(created).encode()),
    ]


class LoopThread:
    """An asyncio loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result()

    def stop(self) -> None:
        """Stop the loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


class BareServer:
    """aiohttp's low-level server answering every request with fixed bytes."""

    def __init__(self, loop: LoopThread) -> None:
        self.body = b"{}"
        self.status = 200
        self.port = 0
        self._loop = loop

        async def start() -> int:
            async def handler(request: web.BaseRequest) -> web.Response:
                await request.read()
                return web.Response(
                    status=self.status, body=self.body, content_type="application/json"
                )

            server = await asyncio.get_running_loop().create_server(
                web.Server(handler), "127.0.0.1", 0
            )
            port: int = server.sockets[0].getsockname()[1]
            return port

        self.port = loop.run(start)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"


async def hammer(base: str, workload: Workload, seconds: float, in_flight: int) -> int:
    """Requests completed in ``seconds`` with ``in_flight`` concurrent workers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = 0
    headers = {"Content-Type": workload.content_type, "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while loop.time() < deadline:
                async with session.request(
                    workload.method,
                    base + workload.path,
                    data=workload.body or None,
                    headers=headers,
                ) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"{workload.name}: HTTP {response.status}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done


async def capture(base: str, workload: Workload) -> tuple[int, bytes]:
    """The emulator's answer to one request."""
    headers = {"Content-Type": workload.content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            workload.method, base + workload.path, data=workload.body or None, headers=headers
        ) as response,
    ):
        return response.status, await response.read()


def seed(cluster_create: Callable[[dict[str, Any]], object], count: int) -> None:
    """``count`` ConfigMaps, 20 labelled ``app=bench``, plus the applied one."""
    for index in range(count):
        labels = {"app": "bench"} if index < 20 else {"app": "other"}
        cluster_create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{index}", "labels": labels},
                "data": {"index": str(index)},
            }
        )


def throughput(seconds: float, in_flight: int) -> None:
    """HTTP requests/s of the emulator against the bare server."""
    print(f"\nThroughput over HTTP ({in_flight} in flight, {seconds:g} s per run, best of 2)")
    print(f"  {'workload':<28}{'emulator/s':>12}{'bare/s':>12}{'ratio':>8}")
    baseline_loop = LoopThread()
    bare = BareServer(baseline_loop)
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("bench")
        seed(cluster.create, 1000)
        for workload in workloads():
            status, body = asyncio.run(capture(cluster.url, workload))
            bare.status, bare.body = status, body
            emulated = plain = 0
            for _ in range(2):
                emulated = max(
                    emulated, asyncio.run(hammer(cluster.url, workload, seconds, in_flight))
                )
                plain = max(plain, asyncio.run(hammer(bare.url, workload, seconds, in_flight)))
            print(
                f"  {workload.name:<28}{emulated / seconds:>12,.0f}{plain / seconds:>12,.0f}"
                f"{emulated / plain:>8.2f}"
            )
        client_throughput(cluster.kubeconfig(), bare, seconds)
    baseline_loop.stop()


def client_throughput(kubeconfig: dict[str, object], bare: BareServer, seconds: float) -> None:
    """The same get through the real `kubernetes` client, 4 threads."""
    from kubernetes import client, config

    def rate(host_config: dict[str, object]) -> float:
        api = client.CoreV1Api(config.new_client_from_config_dict(host_config))
        deadline = time.monotonic() + seconds

        def work() -> int:
            count = 0
            while time.monotonic() < deadline:
                api.read_namespaced_config_map("cm-0", "default")
                count += 1
            return count

        with ThreadPoolExecutor(4) as pool:
            return sum(pool.map(lambda _: work(), range(4))) / seconds

    status, body = asyncio.run(capture(_server(kubeconfig), workloads()[0]))
    bare.status, bare.body = status, body
    bare_config = json.loads(json.dumps(kubeconfig))
    bare_config["clusters"][0]["cluster"]["server"] = bare.url
    emulated, plain = rate(kubeconfig), rate(bare_config)
    name = "kubernetes client get"
    print(f"  {name:<28}{emulated:>12,.0f}{plain:>12,.0f}{emulated / plain:>8.2f}")


def _server(kubeconfig: dict[str, object]) -> str:
    clusters = kubeconfig["clusters"]
    assert isinstance(clusters, list)
    return str(clusters[0]["cluster"]["server"])


def store_scaling() -> None:
    """In-process operations with a small and a large store."""
    print("\nStore operations in process (10 vs 10,000 objects in the namespace)")
    print(f"  {'operation':<28}{'10 objs µs':>12}{'10k objs µs':>12}{'ratio':>8}")
    small, large = _store_timings(10), _store_timings(10_000)
    for name in small:
        print(
            f"  {name:<28}{small[name]:>12.2f}{large[name]:>12.2f}{large[name] / small[name]:>8.2f}"
        )


def _store_timings(size: int) -> dict[str, float]:
    """Microseconds per get and per label-selected list with ``size`` objects stored."""
    with Fleet(simulation=False) as fleet:
        api = fleet.add_cluster("scale").api
        collection = api.target("v1", "ConfigMap", "default")
        one = api.target("v1", "ConfigMap", "default", "cm-5")
        selector = parse_label_selector("app=bench")

        def measure() -> dict[str, float]:
            for index in range(size):
                labels = {"app": "bench"} if index < 10 else {"app": "other"}
                body = {"metadata": {"name": f"cm-{index}", "labels": labels}}
                api.create(collection, body, WriteOptions("bench"))
            return {
                "get": _time(lambda: api.get(one)),
                "list 10 by label": _time(lambda: api.list_objects(collection, selector)),
            }

        return fleet.call(measure)


def _time(operation: Callable[[], object], repeat: int = 20_000) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        operation()
    return (time.perf_counter() - start) / repeat * 1e6


def rss_kib() -> int:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory_child(kind: str, count: int) -> None:
    """Print the RSS growth (KiB) of starting ``count`` emulated clusters or bare listeners."""
    gc.collect()
    before = rss_kib()
    if kind == "emulator":
        with Fleet() as fleet:
            for index in range(count):
                fleet.add_cluster(f"cluster-{index}")
            gc.collect()
            print(rss_kib() - before)
    else:
        loop = LoopThread()
        servers = [BareServer(loop) for _ in range(count)]
        gc.collect()
        print(rss_kib() - before)
        del servers
        loop.stop()


def memory(count: int) -> None:
    """RSS of an idle fleet against bare listeners, each measured in a fresh process."""
    print(f"\nMemory of {count:,} idle clusters (RSS growth, fresh process each)")

    def measure(kind: str) -> int:
        output = subprocess.run(
            [sys.executable, __file__, "--memory-child", kind, "--clusters", str(count)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return int(output.strip().splitlines()[-1])

    started = time.perf_counter()
    emulated = measure("emulator")
    elapsed = time.perf_counter() - started
    plain = measure("bare")
    print(f"  emulated clusters : {emulated / 1024:8.1f} MiB  ({emulated / count:6.1f} KiB each)")
    print(f"  bare listeners    : {plain / 1024:8.1f} MiB  ({plain / count:6.1f} KiB each)")
    print(f"  ratio             : {emulated / plain:8.2f}")
    print(f"  (starting the emulated fleet took {elapsed:.1f} s including interpreter start)")


@contextmanager
def section(title: str) -> Iterator[None]:
    """Time a section."""
    started = time.perf_counter()
    yield
    print(f"  [{title}: {time.perf_counter() - started:.0f} s]")


def main() -> None:
    """Run every measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--memory-child", choices=["emulator", "bare"])
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.clusters)
        return
    with section("throughput"):
        throughput(args.seconds, args.in_flight)
    with section("store"):
        store_scaling()
    with section("memory"):
        memory(args.clusters)


if __name__ == "__main__":
    main()
