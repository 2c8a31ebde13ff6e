"""API discovery: which kinds a server serves, under which plural names and scopes.

Paths are built from ``(apiVersion, kind)`` the way kube-apiserver lays them out. The
`Discovery` cache is filled one group-version at a time from ``/api/v1`` or
``/apis/<group>/<version>`` and refreshed when a kind is missing (a CRD may have been
registered since). `Discovery.capabilities` reads ``/version`` and every served group-version
for Helm's ``.Capabilities``, at most once a ``CAPABILITIES_TTL``. Parsing is pure; the fetch is
injected by the transport (`function.kube.rest`). Clusters that serve the same resource list
share its parsed kinds (`shared_resource_list`), and callers that ask for a group-version
while it is being fetched share that one request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from function.errors import NotFoundError
from function.kube.client import Capabilities, ResourceInfo
from function.model.objects import group_of

Fetch = Callable[[str], Awaitable[Mapping[str, Any]]]
"""GET a discovery path and return the decoded JSON (raises `NotFoundError` on 404)."""

CAPABILITIES_TTL = 60.0
"""Seconds a cluster's capabilities are reused: CRDs an add-on installs show up after this."""


def group_version_path(api_version: str) -> str:
    """``v1`` → ``/api/v1``; ``apps/v1`` → ``/apis/apps/v1``."""
    return f"/apis/{api_version}" if group_of(api_version) else f"/api/{api_version}"


def parse_resource_list(api_version: str, doc: Mapping[str, Any]) -> dict[str, ResourceInfo]:
    """Kinds served by one group-version, from its ``APIResourceList``."""
    subresources: dict[str, set[str]] = {}
    for res in doc.get("resources", []):
        name = str(res.get("name", ""))
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, set()).add(sub)
    kinds: dict[str, ResourceInfo] = {}
    for res in doc.get("resources", []):
        name = str(res.get("name", ""))
        if "/" in name:
            continue
        kinds[str(res["kind"])] = ResourceInfo(
            api_version=api_version,
            kind=str(res["kind"]),
            plural=name,
            namespaced=bool(res.get("namespaced")),
            subresources=frozenset(subresources.get(name, ())),
        )
    return kinds


def object_path(
    info: ResourceInfo,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The URL path of a collection or an object (or one of its subresources)."""
    path = group_version_path(info.api_version)
    if info.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{info.plural}"
    if name:
        path += f"/{quote(name, safe='')}"
        if subresource:
            path += f"/{subresource}"
    return path


class Discovery:
    """A cache of `ResourceInfo` per group-version, used from one event loop."""

    def __init__(self, fetch: Fetch, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._kinds: dict[str, dict[str, ResourceInfo]] = {}
        self._monotonic = monotonic
        self._capabilities: tuple[float, Capabilities] | None = None
        self._loading: dict[str, asyncio.Future[dict[str, ResourceInfo]]] = {}
        """Group-versions being fetched: callers that ask meanwhile share the one request."""

    def cached(self, api_version: str, kind: str) -> ResourceInfo | None:
        """The known `ResourceInfo` of ``kind``, without asking the server."""
        return self._kinds.get(api_version, {}).get(kind)

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """How ``kind`` is served, refreshing the group-version once if it is unknown."""
        kinds = self._kinds.get(api_version)
        if kinds is not None and kind in kinds:
            return kinds[kind]
        try:
            kinds = await self._refresh(api_version)
        except NotFoundError:
            kinds = {}
        if kind not in kinds:
            raise NotFoundError(
                f"the server does not serve kind {kind!r} in {api_version}", status=404
            )
        return kinds[kind]

    async def preferred_version(self, group: str) -> str:
        """The preferred version of ``group`` from ``/apis/<group>``."""
        doc = await self._fetch(f"/apis/{group}")
        preferred = doc.get("preferredVersion") or {}
        version = preferred.get("version")
        if not version:
            raise NotFoundError(f"the server does not serve group {group!r}", status=404)
        return str(version)

    async def capabilities(self) -> Capabilities:
        """``/version`` and every group-version with its kinds (cached for a TTL)."""
        now = self._monotonic()
        if self._capabilities is not None and now - self._capabilities[0] < CAPABILITIES_TTL:
            return self._capabilities[1]
        version, core, groups = await asyncio.gather(
            self._fetch("/version"), self._fetch("/api"), self._fetch("/apis")
        )
        served = [str(v) for v in core.get("versions") or []]
        for group in groups.get("groups") or []:
            served.extend(str(v["groupVersion"]) for v in group.get("versions") or [])
        kinds = await asyncio.gather(*(self._refresh(gv) for gv in served))
        found = capabilities_of(version, served, kinds)
        self._capabilities = (now, found)
        return found

    async def _refresh(self, api_version: str) -> dict[str, ResourceInfo]:
        """The kinds of ``api_version``, fetched anew, or by the fetch already under way: a
        cluster's watches and targets start together and ask for the same group-versions.
        One caller's cancellation leaves the fetch to the others (`asyncio.shield`)."""
        loading = self._loading.get(api_version)
        if loading is None:
            loading = asyncio.ensure_future(self._load(api_version))
            self._loading[api_version] = loading
            loading.add_done_callback(lambda done: self._loaded(api_version, done))
        return await asyncio.shield(loading)

    def _loaded(self, api_version: str, done: asyncio.Future[dict[str, ResourceInfo]]) -> None:
        if self._loading.get(api_version) is done:
            del self._loading[api_version]
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have been cancelled meanwhile

    async def _load(self, api_version: str) -> dict[str, ResourceInfo]:
        doc = await self._fetch(group_version_path(api_version))
        kinds = shared_resource_list(api_version, doc)
        self._kinds[api_version] = kinds
        return kinds


SHARED_RESOURCE_LISTS = 1024
"""Distinct group-version resource lists held for sharing between clusters."""
_resource_lists: OrderedDict[bytes, dict[str, ResourceInfo]] = OrderedDict()


def shared_resource_list(api_version: str, doc: Mapping[str, Any]) -> dict[str, ResourceInfo]:
    """`parse_resource_list`, held once for every cluster that serves the same list: a
    fleet's clusters serve the same built-in kinds and, with the same add-ons, the same
    CRDs. The result is read, never written to."""
    try:
        key = api_version.encode() + b" " + orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return parse_resource_list(api_version, doc)
    kinds = _resource_lists.get(key)
    if kinds is None:
        _resource_lists[key] = kinds = parse_resource_list(api_version, doc)
        while len(_resource_lists) > SHARED_RESOURCE_LISTS:
            _resource_lists.popitem(last=False)
    else:
        _resource_lists.move_to_end(key)
    return kinds


def capabilities_of(
    version: Mapping[str, Any],
    group_versions: list[str],
    kinds: list[dict[str, ResourceInfo]],
) -> Capabilities:
    """Helm's version set: each group-version and each ``group-version/Kind``."""
    names = set(group_versions)
    for gv, by_kind in zip(group_versions, kinds, strict=True):
        names.update(f"{gv}/{kind}" for kind in by_kind)
    git_version = str(version.get("gitVersion") or "")
    if not git_version:
        raise NotFoundError("the server's /version names no gitVersion", status=404)
    return Capabilities(git_version, tuple(sorted(names)))
