"""One serving-stack AddonBundle per cluster and stack, shared by every model placed there.

A placed model needs its runtime's serving stack on its cluster (the catalog's vLLM production
stack, or cert-manager and KServe). Were the stack part of each deployment's own bundle, the
bundles of two deployments taking turns on a cluster would contend for the same objects: the
one arriving finds them managed by the one leaving, and fails with a conflict. So the
placement controller keeps the stack in a bundle of its own, `<cluster>-<stack>-serving`
(labelled `STACK_LABEL`), applied when the first placement bundle of that runtime targets the
cluster and deleted when the last one has gone; the model bundles carry the model alone. A
cluster whose stack another bundle brings whole (an AIInferenceCluster's composed bundle, or
a bundle whose ``clusterSelector`` matches the cluster's labels now) gets none, and gets one
again once the cluster's labels no longer match. `wanted_stacks` is the pure part;
`ServingStacks.sync` applies and deletes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

from function.catalog.addons import SERVING
from function.errors import NotFoundError
from function.kube.client import KubeClient
from function.model import bundle as bundle_model
from function.model.bundle import AddonBundleSpec
from function.model.common import ObjectRef
from function.model.input import CatalogSettings
from function.model.objects import Object, meta
from function.model.sync import SyncMode
from function.model.xr import Runtime
from function.placement.delivery import DEPLOYMENT_LABEL, stack_addons
from function.placement.ledger import helm_charts, stack_charts, stack_provided, stack_sources
from function.reconciler.instances import same_bundle
from function.reconciler.store import Store
from function.reconciler.targets import BUNDLE, CAPI_CLUSTER

log = logging.getLogger(__name__)

STACK_LABEL = "aifleet.io/serving-stack"
"""On a serving-stack bundle: the runtime whose stack it brings."""
RUNTIME_LABEL = "aifleet.io/runtime"
"""On a placement bundle: the runtime of its model."""
STACK_CHARTS = frozenset(c for runtime in SERVING for c in stack_charts(runtime))
"""The charts of every serving stack: a bundle with one of them may bring a stack."""


def stack_of(runtime: Runtime) -> Runtime:
    """The runtime naming ``runtime``'s stack: the first with the same stack (Triton is
    served by KServe's)."""
    stack = SERVING[runtime].stack
    return next(r for r, s in SERVING.items() if s.stack == stack)


def stack_bundle_name(cluster: str, runtime: Runtime) -> str:
    """``team/eu-1`` and Triton → ``eu-1-kserve-serving``."""
    return f"{cluster.split('/')[-1]}-{stack_of(runtime).value}-serving"


def placement_runtime(bundle: Mapping[str, Any]) -> Runtime | None:
    """The runtime of a placement bundle's model, from its label."""
    value = ((bundle.get("metadata") or {}).get("labels") or {}).get(RUNTIME_LABEL)
    try:
        return Runtime(value) if value else None
    except ValueError:
        return None


def stack_bundle(
    namespace: str, ref: Mapping[str, Any], runtime: Runtime, catalog: CatalogSettings | None
) -> dict[str, Any]:
    """The serving-stack bundle of ``runtime`` for the cluster ``ref`` (a clusterRef) names."""
    cluster_ref = ObjectRef.model_validate(dict(ref))
    runtime = stack_of(runtime)
    body = AddonBundleSpec(
        cluster_ref=cluster_ref,
        sync_mode=SyncMode.CONTINUOUS,
        addons=stack_addons(runtime, catalog),
    ).to_manifest()
    return {
        "apiVersion": bundle_model.API_VERSION,
        "kind": bundle_model.KIND,
        "metadata": {
            "name": stack_bundle_name(f"{namespace}/{ref['name']}", runtime),
            "namespace": namespace,
            "labels": {STACK_LABEL: runtime.value},
            "ownerReferences": [],
        },
        "spec": body,
    }


def wanted_stacks(
    namespace: str,
    bundles: Iterable[Mapping[str, Any]],
    catalog: CatalogSettings | None,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The serving-stack bundles the namespace's placement bundles need, by name: one per
    cluster and stack that some placement bundle targets (one being deleted too: its model is
    withdrawn first) and no other bundle serves, by ``clusterRef`` or by a ``clusterSelector``
    matching the cluster's ``labels`` (by ``namespace/name``; a cluster absent is matched by
    no selector)."""
    labels = labels or {}
    listed = list(bundles)
    others = stack_sources(
        b
        for b in listed
        if not {DEPLOYMENT_LABEL, STACK_LABEL} & set((b.get("metadata") or {}).get("labels") or {})
    )
    wanted: dict[str, dict[str, Any]] = {}
    for bundle in listed:
        m = bundle.get("metadata") or {}
        runtime = placement_runtime(bundle)
        ref = (bundle.get("spec") or {}).get("clusterRef") or {}
        if runtime is None or not ref.get("name"):
            continue  # one being deleted keeps its stack until its model is withdrawn
        if not (m.get("labels") or {}).get(DEPLOYMENT_LABEL):
            continue
        cluster = f"{ref.get('namespace') or namespace}/{ref['name']}"
        if stack_bundle_name(cluster, runtime) in wanted:
            continue  # another model of the same stack on the same cluster
        if stack_provided(runtime, cluster, others, exclude="", labels=labels.get(cluster)):
            continue
        doc = stack_bundle(namespace, ref, runtime, catalog)
        wanted[str(doc["metadata"]["name"])] = doc
    return wanted


async def delete_bundle(mgmt: KubeClient, namespace: str, name: str) -> None:
    """Delete the AddonBundle ``namespace/name``; one already gone is no failure."""
    with contextlib.suppress(NotFoundError):
        await mgmt.delete(bundle_model.API_VERSION, bundle_model.KIND, name, namespace)


class StackBringers:
    """What decides whether other authors' bundles bring a serving stack, as last seen: per
    bundle its stack charts and how it picks clusters, per cluster its labels. Status writes
    change neither, so the namespace's stacks are synced only when one of them moved."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._labels: dict[tuple[str, str], Mapping[str, str]] = {}

    def changed(self, bundle: Mapping[str, Any], *, gone: bool) -> bool:
        """Whether a change of ``bundle`` (not a placement or stack bundle) may change which
        clusters it brings a stack to: its Helm add-ons of a serving stack's chart, or the
        clusters it picks while it has some, differ from when last seen (`stack_provided`
        then decides)."""
        m = bundle.get("metadata") or {}
        ident = (str(m.get("namespace", "")), str(m.get("name")))
        spec = bundle.get("spec") or {}
        charts = helm_charts(spec.get("addons") or []) & STACK_CHARTS
        before = self._seen.pop(ident, None)
        if not charts or gone:
            return before is not None
        now = (sorted(charts), repr(spec.get("clusterRef")), repr(spec.get("clusterSelector")))
        self._seen[ident] = now
        return now != before

    def relabelled(self, cluster: Mapping[str, Any], *, gone: bool) -> bool:
        """Whether ``cluster`` came, went or changed its labels since last seen (which
        decides the ``clusterSelector`` bundles that bring it a stack)."""
        m = cluster.get("metadata") or {}
        ident = (str(m.get("namespace", "")), str(m.get("name")))
        before = self._labels.pop(ident, None)
        if gone:
            return True
        labels = self._labels[ident] = m.get("labels") or {}
        return before is None or dict(before) != dict(labels)


class ServingStacks:
    """Applies and deletes the serving-stack bundles of the placement controller."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        catalog: CatalogSettings | None,
        field_manager: str,
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._catalog = catalog
        self._field_manager = field_manager
        self._applied: dict[tuple[str, str], Object] = {}
        self.bringers = StackBringers()
        self.owns: Callable[[Object], bool] = lambda bundle: True

    def of(self, namespace: str, cluster: str, runtime: Runtime) -> Object | None:
        """The serving-stack bundle of ``runtime`` on ``cluster`` as stored, if there is one."""
        return self._store.get(BUNDLE, namespace, stack_bundle_name(cluster, runtime))

    def relabelled(self, cluster: Object) -> bool:
        """`StackBringers.relabelled`, the cluster gone when the store no longer has it."""
        m = meta(cluster)
        namespace, name = str(m.get("namespace", "")), str(m.get("name"))
        return self.bringers.relabelled(
            cluster, gone=self._store.get(CAPI_CLUSTER, namespace, name) is None
        )

    def forget(self, namespace: str, name: str) -> None:
        """The stack bundle ``name`` is gone from the store: apply it again when wanted."""
        self._applied.pop((namespace, name), None)

    async def sync(
        self, namespace: str, pending: Iterable[Object], *, waiting: Set[str] = frozenset()
    ) -> None:
        """Apply the stacks the namespace's placement bundles need, delete the others but
        those of the ``waiting`` runtimes (a deployment waits for capacity with one);
        ``pending`` are placement bundles applied that the store may not show yet."""
        kept = {stack_of(Runtime(r)).value for r in waiting if r in {x.value for x in Runtime}}
        stored = list(self._store.list(BUNDLE, namespace))
        by_name = {str(meta(b)["name"]): b for b in stored}
        for doc in pending:
            by_name.setdefault(str(meta(doc)["name"]), doc)
        labels = {
            f"{namespace}/{meta(c)['name']}": dict(meta(c).get("labels") or {})
            for c in self._store.list(CAPI_CLUSTER, namespace)
        }
        wanted = wanted_stacks(namespace, by_name.values(), self._catalog, labels)
        for bundle in stored:
            m = meta(bundle)
            name = str(m["name"])
            runtime = (m.get("labels") or {}).get(STACK_LABEL)
            if runtime is None or name in wanted or runtime in kept:
                continue
            if m.get("deletionTimestamp") or not self.owns(bundle):
                continue
            log.info("serving stack %s/%s: no placement on its cluster needs it", namespace, name)
            self._applied.pop((namespace, name), None)
            await delete_bundle(self._mgmt, namespace, name)
        for name, doc in sorted(wanted.items()):
            live = by_name.get(name)
            if not self.owns(doc):
                continue
            if live is not None and meta(live).get("deletionTimestamp"):
                continue  # applied again once it is gone (its deletion queues a sync)
            if live is not None and same_bundle(live, doc):
                continue
            if self._applied.get((namespace, name)) == doc and live is None:
                continue  # applied; the store has not seen it yet
            log.info("serving stack %s/%s: applying for the placements on its cluster",
                     namespace, name)  # fmt: skip
            await self._mgmt.apply(doc, field_manager=self._field_manager, force=True)
            self._applied[(namespace, name)] = doc
