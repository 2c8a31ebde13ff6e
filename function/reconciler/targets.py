"""Which clusters each bundle targets, and which bundles target each cluster.

A `BundleKey` reconcile resolves its bundle's targets (`TargetIndex.resolve`: the one
``clusterRef``, or every cluster of the bundle's namespace its ``clusterSelector`` matches)
and records them (`index`); a changed cluster then finds the bundles on it (`bundles_on`) and
those whose selector may now match it (`selecting`). A `TargetKey` reconcile trusts none of
that: `current` decides from the store as it is now whether its cluster is a target (resolving
the bundle again if its spec is not the one resolved, else checking that cluster's labels
alone) and corrects the index to match. Kept apart from the reconcile itself, which asks it
and queues keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from function.model.bundle import GROUP as BUNDLE_GROUP
from function.model.bundle import KIND as BUNDLE_KIND
from function.model.bundle import AddonBundleSpec
from function.model.clusters import CLOUD_CLUSTER_KINDS
from function.model.objects import meta
from function.reconciler.keys import BundleKey
from function.reconciler.readiness import CAPI_GROUP
from function.reconciler.store import GroupKind, ObjectId, Store

BUNDLE = GroupKind(BUNDLE_GROUP, BUNDLE_KIND)
"""AddonBundles, across their versions: the one constant every reader of the store keys them by."""
CAPI_CLUSTER = GroupKind(CAPI_GROUP, "Cluster")
SELECTABLE = (CAPI_CLUSTER, *(GroupKind.of(v, k) for v, k in CLOUD_CLUSTER_KINDS))
"""Cluster kinds a ``clusterSelector`` picks from: Cluster API's and the cloud families'."""

EnsureInformer = Callable[[str, str], None]
"""Start watching (apiVersion, kind) if nothing watches it yet."""


@dataclass
class Targets:
    """A bundle's targets as last resolved (by its `BundleKey` reconcile, or as a `TargetKey`
    reconcile corrected them)."""

    clusters: set[ObjectId] = field(default_factory=set)
    selector: bool = False
    none_reason: str | None = None
    spec: AddonBundleSpec | None = None
    """The spec they were resolved for."""


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
            return Targets({cid}, spec=spec)
        assert spec.cluster_selector is not None
        selector = spec.cluster_selector
        clusters = {
            ObjectId.of(c)
            for gk in SELECTABLE
            for c in self._store.list(gk, key.namespace)
            if selector.matches(meta(c).get("labels") or {})
        }
        return Targets(clusters, selector=True, none_reason=_none(clusters), spec=spec)

    def current(self, key: BundleKey, spec: AddonBundleSpec, cid: ObjectId) -> Targets:
        """The bundle's targets, right about ``cid`` as the store holds it and the bundle now
        (recorded as the bundle's, if that changed them)."""
        targets = self._of.get(key)
        if targets is None or targets.spec is not spec:
            targets = self.resolve(key, spec)
        elif (cid in targets.clusters) != self._targets(key, spec, cid):
            clusters = targets.clusters ^ {cid}
            targets = Targets(clusters, targets.selector, _none(clusters), spec)
        else:
            return targets
        self.index(key, targets)
        return targets

    def _targets(self, key: BundleKey, spec: AddonBundleSpec, cid: ObjectId) -> bool:
        """Whether ``spec`` targets ``cid`` now (a ``clusterRef`` names it, or its labels
        in the store match the ``clusterSelector``)."""
        if spec.cluster_ref is not None:
            ref = spec.cluster_ref
            return cid == ObjectId(GroupKind.of(ref.api_version, ref.kind), key.namespace, ref.name)
        cluster = self._store.get_id(cid)
        return (
            cluster is not None
            and spec.cluster_selector is not None
            and cid.namespace == key.namespace
            and cid.gk in SELECTABLE
            and spec.cluster_selector.matches(meta(cluster).get("labels") or {})
        )

    def index(self, key: BundleKey, targets: Targets) -> None:
        """Record ``targets`` as the bundle's."""
        old = self._of.get(key)
        for cid in old.clusters if old else ():
            self._by_cluster.get(cid, set()).discard(key)
        for cid in targets.clusters:
            self._by_cluster.setdefault(cid, set()).add(key)
        self._of[key] = targets

    def get(self, key: BundleKey) -> Targets | None:
        """The bundle's targets as last resolved; None before they first were."""
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


def _none(clusters: set[ObjectId]) -> str | None:
    """Why a selector targets no cluster, if it targets none."""
    return None if clusters else "no cluster matches the selector"
