"""Informers: keep the `Store` in step with one kind of the management cluster by list+watch.

An informer lists, then watches from the list's resourceVersion, following bookmarks; when
the server says the version is gone (410) it lists again and reports the differences, so no
change is lost across reconnects. Failures back off and retry forever. The informer calls
``on_change`` with each object that changed or went away — it does not say how, because the
reconciler is level-based and only needs to know which keys to look at again. An informer
watches one namespace or (``namespace=None``) all of them; several namespaced informers of
one kind share the store, each replacing only its own namespace on a relist.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from function.errors import GoneError, KubeError, NotFoundError
from function.kube.client import EventType, KubeClient
from function.model.objects import Object, meta
from function.reconciler.store import GroupKind, Store, slim

log = logging.getLogger(__name__)

OnChange = Callable[[Object], None]


class Informer:
    """List+watch one kind into a `Store`, calling ``on_change`` for every change."""

    def __init__(
        self,
        client: KubeClient,
        store: Store,
        api_version: str,
        kind: str,
        on_change: OnChange,
        *,
        label_selector: str | None = None,
        namespace: str | None = None,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None:
        self.api_version = api_version
        self.kind = kind
        self.gk = GroupKind.of(api_version, kind)
        self.synced = asyncio.Event()
        self._client = client
        self._store = store
        self._on_change = on_change
        self._selector = label_selector
        self.namespace = namespace
        self._where = f"{self.gk} in {namespace}" if namespace else str(self.gk)
        self._watch_timeout = watch_timeout
        self._max_backoff = max_backoff
        self._failures = 0

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                version = await self._relist()
                self.synced.set()
                self._failures = 0
                while True:
                    version = await self._watch(version)
            except GoneError:
                log.info("%s: watch expired, listing again", self._where)
            except NotFoundError as exc:
                log.info("%s is not served yet: %s", self._where, exc)
                self.synced.set()  # nothing to wait for: there are no such objects
                await self._backoff(cap=self._max_backoff)
            except KubeError as exc:
                log.warning("%s: %s", self._where, exc)
                await self._backoff()
            except Exception:  # an informer must not die: its cache would go stale silently
                log.exception("%s: informer failed; listing again", self._where)
                await self._backoff()

    async def _relist(self) -> str:
        listed = await self._client.list(
            self.api_version, self.kind, namespace=self.namespace, label_selector=self._selector
        )
        items = [slim(o) for o in listed.items]
        changed, deleted = self._store.replace(self.gk, items, self.namespace)
        for obj in (*changed, *deleted):
            self._on_change(obj)
        return listed.resource_version

    async def _watch(self, version: str) -> str:
        stream = self._client.watch(
            self.api_version,
            self.kind,
            resource_version=version,
            namespace=self.namespace,
            label_selector=self._selector,
            timeout_seconds=self._watch_timeout,
        )
        async for event in stream:
            version = str(meta(event.object).get("resourceVersion") or version)
            if event.type is EventType.BOOKMARK:
                continue
            obj = slim(event.object)
            if event.type is EventType.DELETED:
                self._store.remove(obj)
            else:
                self._store.put(obj)
            self._on_change(obj)
        return version

    async def _backoff(self, cap: float | None = None) -> None:
        self._failures += 1
        delay = min(0.2 * 2 ** min(self._failures, 10), cap or self._max_backoff)
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
