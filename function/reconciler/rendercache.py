"""Rendered add-ons shared across clusters, keyed by their input hash.

`function.reconciler.hashing.addon_input_hash` covers everything an add-on's render depends
on (its spec, the context values its templates read, its ``manifestsFrom`` texts, the chart
digest, the render format), so two targets with the same input hash render the same objects:
a fleet of clusters of one class with one bundle renders each add-on once, not once per
cluster. `RenderCache` keeps the most recent renders (an LRU bound keeps memory flat) and
runs one render per hash at a time: workers that ask for a hash being rendered wait for it.
Whatever a render needs beyond its inputs (a Helm chart's `Capabilities`, read from the
workload cluster's discovery) is fetched by the render itself, so a hit costs no request.

Cached objects are shared by every target that uses them and are never modified: the apply
step (`function.reconciler.apply.prepare`) builds new top-level and metadata dicts for its
stamps and shares everything below them. A failed render is not cached.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from function.model.objects import Object

CACHE_SIZE = 256
"""Distinct renders kept (add-on and input hash); a cluster class costs one entry per add-on."""

Rendered = tuple[Object, ...]


class RenderCache:
    """Renders by input hash, at most one at a time per hash."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._done: OrderedDict[str, Rendered] = OrderedDict()
        self._running: dict[str, asyncio.Future[Rendered]] = {}

    async def get(
        self, input_hash: str, render: Callable[[], Awaitable[list[Object]]]
    ) -> list[Object]:
        """The objects rendered for ``input_hash``, awaiting ``render()`` only on a miss."""
        cached = self._done.get(input_hash)
        if cached is not None:
            self._done.move_to_end(input_hash)
            return list(cached)
        running = self._running.get(input_hash)
        if running is not None:
            return list(await asyncio.shield(running))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rendered] = loop.create_future()
        self._running[input_hash] = future
        try:
            objects = tuple(await render())
        except asyncio.CancelledError:
            future.cancel()  # shutting down: whoever waits is cancelled too
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters, if any, raise it themselves
            raise
        finally:
            del self._running[input_hash]
        future.set_result(objects)
        self._done[input_hash] = objects
        while len(self._done) > self._size:
            self._done.popitem(last=False)
        return list(objects)

    def __len__(self) -> int:
        return len(self._done)
