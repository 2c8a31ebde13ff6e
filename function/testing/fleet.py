"""A fleet of emulated clusters served from one background event loop.

`Fleet` owns a private asyncio loop running in a daemon thread. Every cluster of the fleet is
an `EmulatedCluster` with its own store, resourceVersion sequence and 127.0.0.1 port, all
served by that one loop, so a thousand idle clusters fit in one process. The fleet is a context
manager (``with Fleet() as fleet:``, or ``async with``) and can be used from synchronous tests
and from asyncio code alike: nothing blocks the caller's loop for longer than an in-memory
store operation.

`Fleet.call` runs a function on the fleet's loop from any thread and returns its result (it
awaits the result when the function returns an awaitable); everything that touches a cluster's
state goes through it, which is what makes the in-process helpers of `cluster` thread-safe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

from function.testing.cluster import EmulatedCluster
from function.testing.server import ServerSettings

T = TypeVar("T")


class Fleet:
    """Emulated Kubernetes clusters on 127.0.0.1, one port each.

    ``simulation`` chooses the controller-simulation rules switched on in new clusters: all
    (True), none (False) or the named ones; ``simulation_delay`` is their default delay in
    seconds. ``watch_history`` is how many events per resource a cluster keeps for watches that
    resume from a resourceVersion (older ones get 410 Gone). ``bookmark_interval`` and
    ``watch_timeout`` tune watches (see `server.ServerSettings`).
    """

    def __init__(
        self,
        *,
        simulation: bool | Iterable[str] = True,
        simulation_delay: float = 0.01,
        watch_history: int = 1000,
        bookmark_interval: float = 60.0,
        watch_timeout: float = 1800.0,
    ) -> None:
        self.simulation: bool | frozenset[str] = (
            simulation if isinstance(simulation, bool) else frozenset(simulation)
        )
        self.simulation_delay = simulation_delay
        self.watch_history = watch_history
        self.server_settings = ServerSettings(bookmark_interval, watch_timeout)
        self._clusters: dict[str, EmulatedCluster] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        """Set while the fleet shuts down: timers that fire then start no new work."""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Fleet:
        """Start the fleet's loop thread (idempotent)."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="kubernetes-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        """Close every cluster, cancel simulations and stop the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.call(self._shutdown)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
        self.stopping = False

    async def _shutdown(self) -> None:
        self.stopping = True
        for cluster in self._clusters.values():
            cluster.server.stop()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Fleet:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- running on the loop -------------------------------------------------------------------

    def on_loop(self) -> bool:
        """Whether the caller is the fleet's loop thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    @overload
    def call(self, fn: Callable[[], Awaitable[T]]) -> T: ...

    @overload
    def call(self, fn: Callable[[], T]) -> T: ...

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fleet's loop and return its result (awaited if awaitable)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the fleet is not running; use `with Fleet() as fleet:`")
        if self.on_loop():
            result = fn()
            if inspect.isawaitable(result):
                raise RuntimeError("cannot wait for a coroutine on the fleet's own loop")
            return result
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result: Any = fn()
            except BaseException as error:  # handed to the calling thread
                future.set_exception(error)
                return
            if not inspect.isawaitable(result):
                future.set_result(result)
                return

            async def finish() -> None:
                try:
                    future.set_result(await result)
                except BaseException as error:  # handed to the calling thread
                    future.set_exception(error)

            self.track(loop.create_task(finish()))

        loop.call_soon_threadsafe(run)
        return future.result()

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a background task alive until it ends (and cancel it when the fleet stops)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- clusters ------------------------------------------------------------------------------

    def add_cluster(
        self, name: str, *, simulation: bool | Iterable[str] | None = None
    ) -> EmulatedCluster:
        """Create and start a cluster (``simulation`` overrides the fleet's rule choice)."""
        return self.call(lambda: self.add_cluster_on_loop(name, simulation))

    async def add_cluster_on_loop(
        self, name: str, simulation: bool | Iterable[str] | None = None
    ) -> EmulatedCluster:
        """`add_cluster`, for code already running on the fleet's loop (simulation rules)."""
        if name in self._clusters:
            raise ValueError(f"the fleet already has a cluster named {name!r}")
        choice = self.simulation if simulation is None else simulation
        enabled = choice if isinstance(choice, bool) else frozenset(choice)
        cluster = EmulatedCluster(self, name, enabled)
        self._clusters[name] = cluster
        await cluster.server.start()
        return cluster

    def remove_cluster(self, name: str) -> None:
        """Stop a cluster and forget it."""
        cluster = self._clusters[name]
        self.call(cluster.server.stop)
        del self._clusters[name]

    def forget_cluster_on_loop(self, name: str) -> None:
        """`remove_cluster`, for code already running on the fleet's loop."""
        cluster = self._clusters.pop(name)
        cluster.server.stop()

    def __getitem__(self, name: str) -> EmulatedCluster:
        return self._clusters[name]

    def __contains__(self, name: object) -> bool:
        return name in self._clusters

    def __iter__(self) -> Iterator[EmulatedCluster]:
        return iter(list(self._clusters.values()))

    def __len__(self) -> int:
        return len(self._clusters)

    @property
    def clusters(self) -> dict[str, EmulatedCluster]:
        """The clusters by name (a snapshot)."""
        return dict(self._clusters)
