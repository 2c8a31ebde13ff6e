"""Which clusters each bundle targets, and which bundles target each cluster.

A `BundleKey` reconcile resolves its bundle's targets (`TargetIndex.resolve`: the one
``clusterRef``, or every cluster of the bundle's namespace its ``clusterSelector`` matches)
and records them (`index`); a changed cluster then finds the bundles on it (`bundles_on`) and
those whose selector may now match it (`selecting`). Kept apart from the reconcile itself,
which asks it and queues keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from function.model.bundle import AddonBundleSpec
from function.model.clusters import CLOUD_CLUSTER_KINDS
from function.model.objects import meta
from function.reconciler.keys import BundleKey
from function.reconciler.readiness import CAPI_GROUP
from function.reconciler.store import GroupKind, ObjectId, Store

CAPI_CLUSTER = GroupKind(CAPI_GROUP, "Cluster")
SELECTABLE = (CAPI_CLUSTER, *(GroupKind.of(v, k) for v, k in CLOUD_CLUSTER_KINDS))
"""Cluster kinds a ``clusterSelector`` picks from: Cluster API's and the cloud families'."""

EnsureInformer = Callable[[str, str], None]
"""Start watching (apiVersion, kind) if nothing watches it yet."""


@dataclass
class Targets:
    """What the last `BundleKey` reconcile of a bundle resolved."""

    clusters: set[ObjectId] = field(default_factory=set)
    selector: bool = False
    none_reason: str | None = None


class TargetIndex:
    """The targets of every bundle, as last resolved, and the bundles on every cluster."""

    def __init__(self, store: Store, ensure_informer: EnsureInformer) -> None:
        self._store = store
        self._ensure_informer = ensure_informer
        self._of: dict[BundleKey, Targets] = {}
        self._by_cluster: dict[ObjectId, set[BundleKey]] = {}

    def resolve(self, key: BundleKey, spec: AddonBundleSpec) -> Targets:
        """The clusters ``spec`` targets now (watching a ``clusterRef``'s kind)."""
        if spec.cluster_ref is not None:
            ref = spec.cluster_ref
            self._ensure_informer(ref.api_version, ref.kind)
            cid = ObjectId(GroupKind.of(ref.api_version, ref.kind), key.namespace, ref.name)
            return Targets({cid})
        assert spec.cluster_selector is not None
        selector = spec.cluster_selector
        clusters = {
            ObjectId.of(c)
            for gk in SELECTABLE
            for c in self._store.list(gk, key.namespace)
            if selector.matches(meta(c).get("labels") or {})
        }
        reason = None if clusters else "no cluster matches the selector"
        return Targets(clusters, selector=True, none_reason=reason)

    def index(self, key: BundleKey, targets: Targets) -> None:
        """Record ``targets`` as the bundle's."""
        old = self._of.get(key)
        for cid in old.clusters if old else ():
            self._by_cluster.get(cid, set()).discard(key)
        for cid in targets.clusters:
            self._by_cluster.setdefault(cid, set()).add(key)
        self._of[key] = targets

    def get(self, key: BundleKey) -> Targets | None:
        """The bundle's targets; None before its first `BundleKey` reconcile."""
        return self._of.get(key)

    def bundles_on(self, cid: ObjectId) -> set[BundleKey]:
        return self._by_cluster.get(cid, set())

    def selecting(self, namespace: str) -> Iterator[BundleKey]:
        """Bundles of ``namespace`` that pick their clusters by selector."""
        return (b for b, t in self._of.items() if t.selector and b.namespace == namespace)

    def drop(self, key: BundleKey) -> None:
        """Forget a bundle that is gone."""
        self.index(key, Targets())
        del self._of[key]
