"""The client protocol: the only way the reconciler reaches a Kubernetes API.

Everything above this seam speaks in plain dicts (`function.model.objects.Object`) and in
`function.errors` types; nothing above it imports the `kubernetes` package. The real
implementation is `function.kube.rest.RestClient`, over two transports: `function.kube.aio`
(aiohttp on the event loop, the default) and `function.kube.adapter` (the `kubernetes` client's
urllib3 layer on threads). Tests run those same transports against the emulator in
`function.testing`, so no fake of this protocol is needed.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from function.model.objects import Object, group_of

FIELD_MANAGER = "aifleet"
"""The server-side apply field manager of everything the reconciler writes."""


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """How the API serves one kind: its plural resource name and scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()

    @property
    def group(self) -> str:
        """The API group ('' for the core group)."""
        return group_of(self.api_version)


@dataclass(frozen=True, slots=True)
class ObjectList:
    """The items of a list call and the collection's resourceVersion (where a watch starts)."""

    items: list[Object]
    resource_version: str


class EventType(StrEnum):
    """Watch event types, as the API names them."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event; for BOOKMARK only ``object.metadata.resourceVersion`` is meaningful."""

    type: EventType
    object: Object = field(repr=False)


OnWatchEvent = Callable[[WatchEvent], None]
"""Hears each event of a subscribed watch."""
OnWatchEnd = Callable[[BaseException | None], None]
"""Hears how a subscribed watch ended: None when the server ended it, else the `KubeError`
(`GoneError` for an expired resourceVersion), or what ``on_event`` raised."""


class WatchHandle(Protocol):
    """A subscribed watch."""

    def cancel(self) -> object:
        """Stop the watch: its callbacks hear nothing more."""
        ...


class PatchType(StrEnum):
    """Patch content types the client can send."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class Capabilities:
    """What Helm calls ``.Capabilities``: ``KubeVersion`` and ``APIVersions``."""

    kube_version: str
    """The server's ``gitVersion`` (``v1.33.2``)."""
    api_versions: tuple[str, ...]
    """Every served group-version and group-version/Kind, sorted (``apps/v1/Deployment``)."""


class KubeClient(Protocol):
    """A small async client for one Kubernetes API server.

    Calls raise `function.errors.KubeError` subclasses: `NotFoundError`, `ConflictError`,
    `GoneError`, `InvalidError`, `ForbiddenError`, `UnavailableError`.
    """

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        """How ``kind`` is served; `NotFoundError` when the API does not serve it."""
        ...

    async def preferred_version(self, group: str) -> str:
        """The server's preferred version of ``group`` (e.g. ``v1beta2``)."""
        ...

    async def capabilities(self) -> Capabilities:
        """The server's version and served API versions, as Helm's ``.Capabilities``."""
        ...

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object:
        """Read one object."""
        ...

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ObjectList:
        """List objects of a kind, in one namespace or across all of them."""
        ...

    def watch(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Stream changes after ``resource_version`` until the server ends the watch.

        Bookmarks are requested and passed through. Raises `GoneError` when the
        resourceVersion is too old: list again and restart from the new version.
        """
        ...

    async def subscribe(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        on_event: OnWatchEvent,
        on_end: OnWatchEnd,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> WatchHandle:
        """`watch`, driven by callbacks rather than iterated, so that an idle watch holds
        no task: each event goes to ``on_event``, then the end to ``on_end``; nothing is
        called after ``on_end`` or after the handle is cancelled.

        May raise what `watch` raises (a `KubeError`: `GoneError`, `UnavailableError`)
        when the server refuses the watch; the same failure may instead reach ``on_end``.
        """
        ...

    async def create(self, obj: Object) -> Object:
        """Create an object (``generateName`` honoured); `ConflictError` if it exists."""
        ...

    async def replace(self, obj: Object) -> Object:
        """Replace an object (PUT); `ConflictError` when its resourceVersion is stale."""
        ...

    async def apply(
        self,
        obj: Object,
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = False,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Object:
        """Server-side apply ``obj`` as ``field_manager`` (to ``subresource``, e.g. ``status``,
        when given); returns the object after the apply."""
        ...

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Object | builtins.list[Object],
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> Object:
        """Patch an object (or one of its subresources)."""
        ...

    async def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        status: Object,
        *,
        resource_version: str | None = None,
    ) -> Object:
        """Merge-patch the ``status`` subresource; with ``resource_version``, only if the
        object is still at that version (`ConflictError` otherwise)."""
        ...

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> None:
        """Delete an object; `NotFoundError` when it is already gone."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
