"""A split bundle's status, written shard by shard with server-side apply.

On a sharded fleet a bundle with a ``clusterSelector`` is converged by every replica on the
clusters of its own shards (`statuswrite.splits`). ``status.clusters`` is a list map keyed by
each entry's ``key`` (`bundlestatus.entry_key`), so a replica applies only the entries of its
own clusters, as the field manager of their shard (`shard_manager`), and the API server merges
them with the others': no read-modify-write, no 409, nothing of another shard written or lost.
The field manager is the shard, not the process, so a shard that changes hands keeps its
owner: the new holder's first apply replaces the old holder's entries field for field (a
``connectionStatus`` the old holder set and the new one does not goes with it), and an entry
of a cluster that left the shard goes as soon as its holder applies without it.

The aggregates (``observedGeneration`` and the ``Ready`` and ``Synced`` conditions) have one
writer: the replica that holds the bundle's own shard (the shard of its uid, as for every
bundle), which applies them in the request of that shard's entries, computed over every
entry as the API server last returned them. When another shard's entries move, the informer
brings the bundle and that replica composes the aggregates again (`foreign`).

Ownership does not hand over by itself: entries a single writer merge-patched before the
bundle was split (a fleet sharded since, a ``maxUpdate`` dropped) are owned by that writer's
Update as well, and an apply that leaves them out does not remove what another manager owns,
so an entry of a cluster that left, or the single writer's ``rollout``, would stay for good
(and a bundle being deleted would keep its finalizer). After its applies a replica looks at
what the API server returned, and any entry of its shards it did not send (and, holding the
bundle's own shard, any field beside the aggregates) it takes out with a merge patch guarded
by the resourceVersion (`_sweep`): once per such entry, only when another manager kept it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from function.errors import ConflictError, NotFoundError
from function.kube.client import KubeClient
from function.model.bundle import API_VERSION, KIND
from function.model.bundlestatus import AddonBundleStatus, ClusterAddonsStatus, keyed
from function.model.common import ObjectRef
from function.model.objects import Object, meta
from function.model.plan import MAX_STATUS_PLAN_BYTES
from function.reconciler.plan import cap_status_plans

log = logging.getLogger(__name__)

SWEEPS = 4
"""Merge patches tried when taking out entries another manager kept, before the next publish
tries again."""

MANAGER_PREFIX = "aifleet-shard-"


def shard_manager(shard: int) -> str:
    """The field manager of a shard's status entries (and, for a bundle's own shard, of its
    aggregates)."""
    return f"{MANAGER_PREFIX}{shard}"


@dataclass(frozen=True)
class ShardView:
    """What the status of a split bundle needs to know of the shards."""

    held: Callable[[], frozenset[int]]
    """The shards this replica holds now."""
    of_cluster: Callable[[ObjectRef, str], int]
    """The shard of a cluster named by a status entry (and its bundle's namespace)."""
    of_bundle: Callable[[Object], int]
    """The bundle's own shard: its holder writes the aggregates."""
    count: int = 1
    """Shards in the fleet: each one's entries list at most its share of the DryRun plans a
    status holds (`share`)."""

    def share(self) -> int:
        """JSON bytes of DryRun plans one shard's entries may list: an equal part of what a
        whole status may (`MAX_STATUS_PLAN_BYTES`), so that the shards' applies together
        stay within it as the single writer's status does."""
        return MAX_STATUS_PLAN_BYTES // max(self.count, 1)


Aggregate = Callable[[Sequence[ClusterAddonsStatus], AddonBundleStatus | None], AddonBundleStatus]
"""The status (its conditions and observedGeneration) over every entry of the bundle, given
the conditions it has (whose transition times stay when nothing flipped)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What publishing a split bundle's status did."""

    previous: list[Object]
    """The entries of this replica's shards before (as the API server had them)."""
    writes: int
    """Apply requests sent."""


@dataclass(slots=True)
class _Last:
    versions: frozenset[str]
    """The resourceVersion the last publish started from and each of its applies'."""
    newest: str
    after: Object | None
    """What the last apply returned, until the informer has it."""


class ShardStatus:
    """Applies the status entries of this replica's shards, and the aggregates of the bundles
    whose own shard it holds."""

    def __init__(self, mgmt: KubeClient, view: ShardView) -> None:
        self._mgmt = mgmt
        self.view = view
        self._last: dict[tuple[str, str], _Last] = {}

    def newest(self, bundle: Object) -> Object:
        """The informer's copy, unless this replica's last applies are newer than it."""
        last = self._last.get(_key(bundle))
        version = str(meta(bundle).get("resourceVersion"))
        if last is not None and last.after is not None and version in last.versions:
            return last.after
        return bundle

    def moved(self, bundle: Object) -> bool:
        """The informer has a version of the bundle: whether it is another replica's write
        and this replica holds the bundle's own shard (so the aggregates are its to compose
        again). What the last apply returned is dropped once the informer has it (or a newer
        version)."""
        last = self._last.get(_key(bundle))
        version = str(meta(bundle).get("resourceVersion"))
        if last is not None and (version == last.newest or version not in last.versions):
            last.after = None
        mine = last is not None and version in last.versions
        return not mine and self.view.of_bundle(bundle) in self.view.held()

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is remembered of a bundle."""
        self._last.pop((namespace, name), None)

    def __len__(self) -> int:
        """Bundles whose last apply's result is remembered."""
        return sum(last.after is not None for last in self._last.values())

    async def publish(
        self,
        bundle: Object,
        mine: Sequence[ClusterAddonsStatus],
        aggregate: Aggregate,
    ) -> Applied:
        """Apply each held shard whose entries differ from the bundle's, and, when this
        replica holds the bundle's own shard, the aggregates over every entry (``aggregate``)
        in that shard's request, sent last."""
        base = self.newest(bundle)
        namespace = str(meta(base).get("namespace") or "")
        live = list((base.get("status") or {}).get("clusters") or [])
        held = self.view.held()
        home = self.view.of_bundle(base)
        by_shard: dict[int, list[ClusterAddonsStatus]] = {shard: [] for shard in held}
        for entry in map(keyed, mine):
            shard = self.view.of_cluster(entry.cluster_ref, namespace)
            if shard in by_shard:
                by_shard[shard].append(entry)
        entries: list[ClusterAddonsStatus] = []
        wanted: dict[int, list[Object]] = {}
        for shard, share in by_shard.items():  # each shard's plans cut to its share
            share.sort(key=lambda c: (c.cluster_ref.namespace or "", c.cluster_ref.name))
            capped = cap_status_plans(share, budget=self.view.share())
            entries.extend(capped)
            wanted[shard] = [entry.to_dict() for entry in capped]
        current: dict[int, list[Object]] = {}
        others: list[Object] = []
        for raw in live:
            shard = self._shard_of_raw(raw, namespace)
            if shard in wanted:
                current.setdefault(shard, []).append(raw)
            else:
                others.append(raw)
        versions = {str(meta(base).get("resourceVersion"))}
        after, writes = base, 0
        kept: frozenset[str] | None = None  # the status fields beside clusters, when home
        for shard in sorted(held, key=lambda s: (s == home, s)):  # the aggregates last
            body: Object = {}
            if wanted[shard] or current.get(shard):
                body["clusters"] = wanted[shard]
            unchanged = True
            if shard == home:
                status = aggregate([*_parsed(others), *entries], _conditions(after))
                aggregates = status.to_dict()
                aggregates.pop("clusters", None)
                body.update(aggregates)
                kept = frozenset(aggregates)
                old = {k: v for k, v in (after.get("status") or {}).items() if k != "clusters"}
                unchanged = old == aggregates
            if unchanged and _same(wanted[shard], current.get(shard, [])):
                continue  # (fields another manager kept in it are swept below)
            after = await self._mgmt.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "metadata": {"name": meta(base)["name"], "namespace": namespace},
                    "status": body,
                },
                field_manager=shard_manager(shard),
                force=True,
                subresource="status",
            )
            writes += 1
            versions.add(str(meta(after).get("resourceVersion")))
        sent = {str(entry["key"]) for shard in held for entry in wanted[shard]}
        swept = await self._sweep(after, held, sent, kept)
        if swept is not None:
            after, writes = swept, writes + 1
            versions.add(str(meta(after).get("resourceVersion")))
        if writes:
            newest = str(meta(after).get("resourceVersion"))
            self._last[_key(base)] = _Last(frozenset(versions), newest, after)
        previous = [raw for shard in sorted(current) for raw in current[shard]]
        return Applied(previous, writes)

    async def withdraw(self, bundle: Object) -> bool:
        """A bundle being deleted: take the entries of this replica's shards out (the
        aggregates with them); whether other shards' entries remain."""
        base = self.newest(bundle)
        namespace = str(meta(base).get("namespace") or "")
        held = self.view.held()
        live = list((base.get("status") or {}).get("clusters") or [])
        after = base
        for shard in sorted(held):
            if not any(self._shard_of_raw(raw, namespace) == shard for raw in live) and (
                shard != self.view.of_bundle(base)
            ):
                continue
            after = await self._mgmt.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "metadata": {"name": meta(base)["name"], "namespace": namespace},
                    "status": {},
                },
                field_manager=shard_manager(shard),
                force=True,
                subresource="status",
            )
        home = self.view.of_bundle(base) in held
        after = await self._sweep(after, held, set(), frozenset() if home else None) or after
        self.forget(namespace, str(meta(base)["name"]))
        return bool((after.get("status") or {}).get("clusters"))

    async def _sweep(
        self,
        bundle: Object,
        held: frozenset[int],
        sent: set[str],
        kept: frozenset[str] | None,
    ) -> Object | None:
        """Take out of ``bundle``'s status the entries of ``held`` shards whose keys are not
        in ``sent`` (and, unless ``kept`` is None, every field beside ``clusters`` not in
        ``kept``): fields an apply could not remove, since another manager also owns them.
        The bundle after the patch, or None when there was nothing to take out (or it
        conflicted every time: the next publish tries again)."""
        for _ in range(SWEEPS):
            status = bundle.get("status") or {}
            m = meta(bundle)
            namespace = str(m.get("namespace") or "")
            live = list(status.get("clusters") or [])
            stale = [
                str(raw.get("key"))
                for raw in live
                if self._shard_of_raw(raw, namespace) in held and str(raw.get("key")) not in sent
            ]
            strays = (
                [k for k in status if k != "clusters" and k not in kept] if kept is not None else []
            )
            if not stale and not strays:
                return None
            log.info(
                "status of %s/%s: taking out %s, kept by another field manager's earlier write",
                namespace,
                m["name"],
                ", ".join([*stale, *strays]),
            )
            patch: Object = dict.fromkeys(strays)
            if stale:
                patch["clusters"] = [raw for raw in live if str(raw.get("key")) not in stale]
            try:
                return await self._mgmt.patch_status(
                    API_VERSION,
                    KIND,
                    str(m["name"]),
                    namespace,
                    patch,
                    resource_version=str(m.get("resourceVersion") or "") or None,
                )
            except ConflictError:
                try:
                    bundle = await self._mgmt.get(API_VERSION, KIND, str(m["name"]), namespace)
                except NotFoundError:
                    return None
        log.info("status of %s/%s: still moving; taken out on a later publish", *_key(bundle))
        return None

    def _shard_of_raw(self, raw: Object, namespace: str) -> int:
        ref = raw.get("clusterRef") or {}
        return self.view.of_cluster(
            ObjectRef(
                api_version=str(ref.get("apiVersion", "")),
                kind=str(ref.get("kind", "")),
                name=str(ref.get("name") or "?"),
                namespace=ref.get("namespace"),
            ),
            namespace,
        )


def _same(wanted: list[Object], current: list[Object]) -> bool:
    """Whether the shard's entries on the bundle are already the wanted ones (any order)."""
    if len(wanted) != len(current):
        return False
    by_key = {str(raw.get("key")): raw for raw in current}
    return all(by_key.get(str(entry["key"])) == entry for entry in wanted)


def _conditions(bundle: Object) -> AddonBundleStatus | None:
    """The bundle's conditions as they stand (for their transition times)."""
    raw = (bundle.get("status") or {}).get("conditions")
    try:
        return AddonBundleStatus.model_validate({"conditions": raw}) if raw else None
    except ValueError:
        return None


def _parsed(raws: Sequence[Object]) -> list[ClusterAddonsStatus]:
    """Other shards' entries as the API server returned them (an unreadable one is left out:
    its shard's holder writes it again)."""
    out = []
    for raw in raws:
        try:
            out.append(ClusterAddonsStatus.model_validate(raw))
        except ValueError:
            log.debug("status entry %s unreadable; left out of the aggregates", raw.get("key"))
    return out


def _key(bundle: Object) -> tuple[str, str]:
    m = meta(bundle)
    return str(m.get("namespace") or ""), str(m["name"])
