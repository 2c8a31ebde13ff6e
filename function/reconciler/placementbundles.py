"""The AddonBundles the placement controller writes: one per placed cluster, and their stacks.

`PlacementBundles.deliver` applies a deployment's model bundle on each chosen cluster
(`function.placement.delivery.placement_bundle`, the model alone, labelled with its runtime)
and withdraws those on clusters it left; `withdraw` removes them all when it expires or goes.
It remembers what it applied until the store shows it, so a decision taken again before the
informer catches up applies nothing twice, and so `sync_stacks` counts bundles not seen yet
when it keeps the namespace's serving stacks (`function.reconciler.servingstack`) in line
with the clusters placed on. The placement controller (`function.reconciler.deployments`)
decides; this module writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from function.kube.client import KubeClient
from function.model.common import ObjectRef
from function.model.deployment import AIModelDeploymentSpec
from function.model.input import CatalogSettings
from function.model.objects import Object, meta
from function.model.xr import Runtime
from function.placement.decide import Decision
from function.placement.delivery import DEPLOYMENT_LABEL, placement_bundle
from function.reconciler.instances import same_bundle
from function.reconciler.keys import TriggerKey
from function.reconciler.servingstack import RUNTIME_LABEL, ServingStacks, delete_bundle
from function.reconciler.store import Store
from function.reconciler.targets import BUNDLE

log = logging.getLogger(__name__)


class PlacementBundles:
    """Model bundles by deployment, and the serving stacks they need."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        catalog: CatalogSettings | None,
        field_manager: str,
        owns: Callable[[Object], bool],
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._catalog = catalog
        self._field_manager = field_manager
        self._applied: dict[TriggerKey, dict[str, Object]] = {}
        self.stacks = ServingStacks(mgmt, store, catalog, field_manager)
        self.stacks.owns = owns

    def of(self, key: TriggerKey) -> dict[str, Object]:
        """The deployment's bundles as stored, by name."""
        return {
            str(meta(b)["name"]): b
            for b in self._store.list(BUNDLE, key.namespace)
            if (meta(b).get("labels") or {}).get(DEPLOYMENT_LABEL) == key.name
        }

    def gone(self, key: TriggerKey, name: str) -> None:
        """The store no longer has the deployment's bundle ``name``: apply it again if wanted."""
        self._applied.get(key, {}).pop(name, None)

    async def deliver(
        self,
        key: TriggerKey,
        owner: Object,
        spec: AIModelDeploymentSpec,
        decision: Decision,
        clusters: Mapping[str, Object],
    ) -> dict[str, Object]:
        """Apply one bundle per chosen cluster (``clusters`` by namespace/name), withdraw the
        rest; the bundles by cluster, as stored or as applied."""
        applied = self._applied.setdefault(key, {})
        live = self.of(key)
        wanted: dict[str, Object] = {}
        for assignment in decision.assignments:
            cluster = clusters[assignment.cluster]
            ref = ObjectRef(
                api_version=str(cluster["apiVersion"]), kind="Cluster", name=meta(cluster)["name"]
            )
            doc = placement_bundle(
                str(key), spec, assignment, ref, with_stack=False, catalog=self._catalog
            )  # the serving stack comes in the cluster's own bundle (`ServingStacks`)
            doc["metadata"]["labels"][RUNTIME_LABEL] = spec.model.runtime.value
            doc["metadata"]["ownerReferences"] = [owner]
            wanted[assignment.cluster] = doc
        names = {str(d["metadata"]["name"]) for d in wanted.values()}
        await self.withdraw(key, keep=names)
        for doc in wanted.values():
            name = str(doc["metadata"]["name"])
            current = live.get(name)
            if (current is not None and same_bundle(current, doc)) or applied.get(name) == doc:
                continue
            log.info("AIModelDeployment %s: applying bundle %s", key, name)
            await self._mgmt.apply(doc, field_manager=self._field_manager, force=True)
            applied[name] = doc
        return {c: live.get(str(d["metadata"]["name"])) or d for c, d in wanted.items()}

    async def withdraw(self, key: TriggerKey, *, keep: Iterable[str] = ()) -> None:
        """Delete the deployment's bundles but those named in ``keep``."""
        kept = set(keep)
        for name, bundle in sorted(self.of(key).items()):
            if name in kept or meta(bundle).get("deletionTimestamp"):
                continue
            log.info("AIModelDeployment %s: withdrawing bundle %s", key, name)
            self._applied.get(key, {}).pop(name, None)
            await delete_bundle(self._mgmt, key.namespace, name)
        if not kept:
            self._applied.pop(key, None)

    async def sync_stacks(self, namespace: str, waiting: Iterable[str]) -> None:
        """The namespace's serving stacks for its placement bundles, stored or just applied;
        those of the ``waiting`` runtimes stay (a deployment waits for capacity with one)."""
        pending = [
            doc
            for key, applied in self._applied.items()
            if key.namespace == namespace
            for doc in applied.values()
        ]
        await self.stacks.sync(namespace, pending, waiting=frozenset(waiting))

    def stacks_of(
        self, namespace: str, clusters: Iterable[str], runtime: Runtime
    ) -> dict[str, Object | None]:
        """The serving-stack bundle of ``runtime`` on each cluster, as stored (None: none)."""
        return {c: self.stacks.of(namespace, c, runtime) for c in clusters}
