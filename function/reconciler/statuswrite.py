"""Writing a bundle's status without losing another writer's update.

Several replicas may write one bundle's status, each owning the entries of the clusters in
its shards (`function.reconciler.shards`); the bundle's spec and metadata move under them too.
So a status write is a merge patch that carries the ``metadata.resourceVersion`` it was
composed from — kube-apiserver refuses it with 409 Conflict when the object moved since — and
on a conflict the bundle is read again, the writer's own entries are merged over the fresh
status (`merge_entries`), the aggregates recomputed from the merged entries, and the write
tried again, a bounded number of times with jittered backoff.

`StatusWriter` also remembers the object each of its writes returned: the informer's copy of
a bundle lags the writer's own last write, and composing from that copy would only earn a
conflict and a read; it forgets it as soon as the informer has a newer copy (`seen`). The
patch nulls what the new status no longer has, so nothing of an older status stays behind.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from function.errors import ConflictError, NotFoundError, SpecError
from function.kube.client import KubeClient
from function.model.bundle import API_VERSION, KIND, AddonBundleSpec
from function.model.bundlestatus import AddonBundleStatus, ClusterAddonsStatus
from function.model.common import ObjectRef
from function.model.objects import Object, meta

log = logging.getLogger(__name__)

ATTEMPTS = 6
"""Writes tried before the key goes back to the queue (which retries with its backoff)."""
BACKOFF = 0.02
"""Seconds; the n-th retry waits a random time up to ``BACKOFF * 2**n``."""


def merge_entries(
    mine: Iterable[ClusterAddonsStatus],
    fresh: AddonBundleStatus | None,
    is_mine: Callable[[ObjectRef], bool],
) -> list[ClusterAddonsStatus]:
    """This writer's entries, and every entry of ``fresh`` for a cluster that is not its own
    (as the other writer left it). An entry of its own that it no longer has is dropped."""
    others = [e for e in (fresh.clusters if fresh else []) if not is_mine(e.cluster_ref)]
    return [*mine, *others]


def merge_patch(current: Object, wanted: Object) -> Object:
    """The merge patch (RFC 7386) that turns ``current`` into ``wanted``: ``wanted`` with a
    null for each key ``current`` has and ``wanted`` drops, in nested objects too (lists are
    replaced whole), so that a field that went away (a rollout's message, the rollout
    itself) does not stay behind (pure)."""
    patch: Object = dict(wanted)
    for key, value in current.items():
        if key not in wanted:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(wanted[key], dict):
            patch[key] = merge_patch(value, wanted[key])
    return patch


def splits(spec: AddonBundleSpec | SpecError) -> bool:
    """Whether, on a sharded fleet, each replica converges the bundle on the clusters of its
    own shards and writes their entries: a valid bundle with a ``clusterSelector`` and no
    ``maxUpdate`` (a rollout's places are counted in one process, so such a bundle, like one
    with a ``clusterRef``, has a single replica)."""
    return (
        isinstance(spec, AddonBundleSpec)
        and spec.cluster_selector is not None
        and spec.max_update is None
    )


def stamped(entry: ClusterAddonsStatus, generation: int | None) -> ClusterAddonsStatus:
    """A cluster's entry with the bundle generation it was converged for."""
    if entry.observed_generation == generation:
        return entry
    return entry.model_copy(update={"observed_generation": generation})


def restricted(status: AddonBundleStatus, keep: Callable[[ObjectRef], bool]) -> AddonBundleStatus:
    """``status`` with only the entries of the clusters ``keep`` names."""
    kept = [c for c in status.clusters if keep(c.cluster_ref)]
    return status.model_copy(update={"clusters": kept})


@dataclass(frozen=True, slots=True)
class Written:
    """What a status write did: the bundle it was composed from and the status it holds."""

    base: Object
    """The bundle as it was before the write (its status: what the write replaced)."""
    status: Object
    """The status the bundle has now (as sent)."""
    changed: bool
    """False when the bundle already had that status (nothing was sent)."""


Compose = Callable[[Object], Object | None]
"""The status to hold, composed from a given version of the bundle; None: write nothing."""


class StatusWriter:
    """Conflict-retried, resourceVersion-guarded writes of bundles' status."""

    def __init__(
        self,
        mgmt: KubeClient,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._mgmt = mgmt
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._jitter = jitter
        self._after: dict[tuple[str, str], tuple[str, Object]] = {}
        """By bundle (namespace, name): the resourceVersion a write was based on, and what
        it returned."""
        self._seen: dict[tuple[str, str], str] = {}
        """By bundle: the resourceVersion the informer last had (`seen`)."""
        self.conflicts = 0
        """Writes refused with 409 Conflict so far (each one retried)."""

    async def write(self, bundle: Object, compose: Compose) -> Written | None:
        """Compose the status from the newest known version of ``bundle`` and write it,
        re-reading and composing again on each conflict; None when the attempts ran out
        (the caller retries later) or the bundle is gone."""
        current = self._newest(bundle)
        for attempt in range(self._attempts):
            wanted = compose(current)
            if wanted is None or wanted == current.get("status"):
                return Written(current, current.get("status") or {}, changed=False)
            m = meta(current)
            version = str(m.get("resourceVersion") or "")
            try:
                after = await self._mgmt.patch_status(
                    API_VERSION,
                    KIND,
                    str(m["name"]),
                    m.get("namespace"),
                    merge_patch(current.get("status") or {}, wanted),
                    resource_version=version or None,
                )
            except ConflictError as exc:
                self.conflicts += 1
                log.info(
                    "status of %s/%s: %s; reading it again (attempt %d of %d)",
                    m.get("namespace"),
                    m["name"],
                    exc,
                    attempt + 1,
                    self._attempts,
                )
                if attempt + 1 == self._attempts:
                    break
                await self._sleep(self._backoff * (2**attempt) * self._jitter())
                fresh = await self._read(current)
                if fresh is None:
                    return None
                current = fresh
                continue
            key = _key(current)
            if self._seen.get(key) != meta(after).get("resourceVersion"):
                self._after[key] = (version, after)
            else:  # the informer delivered the write before its response came back
                self._after.pop(key, None)
            return Written(current, wanted, changed=True)
        log.warning(
            "status of %s/%s: still conflicting after %d attempts; retrying later",
            meta(bundle).get("namespace"),
            meta(bundle)["name"],
            self._attempts,
        )
        return None

    def seen(self, bundle: Object) -> None:
        """The informer has a version of ``bundle``: once it is not the one the last write
        was based on (it caught up with the write, or moved past it), what that write
        returned is of no more use, and a settled fleet would otherwise hold a second copy
        of every bundle it wrote."""
        key = _key(bundle)
        version = meta(bundle).get("resourceVersion")
        self._seen[key] = str(version or "")
        remembered = self._after.get(key)
        if remembered is not None and remembered[0] != version:
            del self._after[key]

    def __len__(self) -> int:
        """Bundles whose last write's result is remembered."""
        return len(self._after)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered of a bundle (deleted, or another replica's now)."""
        self._after.pop((namespace, name), None)
        self._seen.pop((namespace, name), None)

    def _newest(self, bundle: Object) -> Object:
        """The informer's copy, unless it still predates this writer's last write."""
        remembered = self._after.get(_key(bundle))
        m = meta(bundle)
        if (
            remembered is not None
            and remembered[0] == m.get("resourceVersion")
            and meta(remembered[1]).get("uid") == m.get("uid")
        ):
            return remembered[1]
        return bundle

    async def _read(self, bundle: Object) -> Object | None:
        m = meta(bundle)
        try:
            return await self._mgmt.get(API_VERSION, KIND, str(m["name"]), m.get("namespace"))
        except NotFoundError:
            return None


def _key(bundle: Object) -> tuple[str, str]:
    m = meta(bundle)
    return str(m.get("namespace") or ""), str(m["name"])
