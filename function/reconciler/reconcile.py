"""The level-based reconcile of AddonBundles: finalizer, targets, status — one key at a time.

`Reconciler.reconcile(key)` reads the world from the `Store` and converges it; it never asks
what event brought the key. A `BundleKey` resolves which clusters a bundle targets and queues
one `TargetKey` per cluster (and per cluster it no longer targets, to withdraw from it); a
`TargetKey` decides again from the store whether its cluster is a target (the bundle's spec
and the cluster's labels as they are now, not as the last `BundleKey` saw them), then the
`Converger` does its work, or it withdraws; a `StatusKey` writes the bundle's status once
for however many targets changed. The `on_*` methods map changed objects (bundles, clusters,
kubeconfig Secrets) to keys; `app` wires them to informers.

All that is kept of a bundle, and of each target, lives in one record of its own
(`function.reconciler.memory`, shared with the converger), dropped whole when the bundle or
the target goes (`_forget`); a target without one starts from its entry in the bundle's own
status after a restart, so that hashes recorded there still gate re-rendering: a restart
writes nothing.

On a sharded fleet a bundle with a ``clusterSelector`` is split (`statuswrite.splits`): every
replica resolves its targets, converges those on clusters of its own shards and applies
their status entries beside the others' (`shardstatus`); deleted, each withdraws
from its clusters and the last removes the finalizer. Other bundles have one replica.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping

from function.errors import NotFoundError, SpecError, UnavailableError
from function.kube.client import KubeClient, PatchType
from function.model.bundle import (
    API_VERSION,
    KIND,
    AddonBundleSpec,
    StopMatchingBehavior,
    parse_bundle_spec,
)
from function.model.bundlestatus import ClusterAddonsStatus
from function.model.common import ObjectRef
from function.model.objects import Object, meta
from function.reconciler import logs
from function.reconciler.converge import Converger
from function.reconciler.events import EventRecorder
from function.reconciler.keys import DONE, BundleKey, Key, Result, StatusKey, TargetKey
from function.reconciler.memory import Converged
from function.reconciler.publish import StatusPublisher
from function.reconciler.queue import WorkQueue
from function.reconciler.rollout import Rollouts
from function.reconciler.shardstatus import ShardStatus, ShardView
from function.reconciler.status import all_failed, cluster_ref, entry_for
from function.reconciler.statuswrite import StatusWriter, splits, stamped
from function.reconciler.store import GroupKind, ObjectId, Store
from function.reconciler.targets import BUNDLE, CAPI_CLUSTER, EnsureInformer, TargetIndex, Targets

log = logging.getLogger(__name__)

FINALIZER = "addons.aifleet.io/cleanup"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"


class Reconciler:
    """Reconciles bundles, their targets and their status."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        converger: Converger,
        queue: WorkQueue[Key],
        events: EventRecorder,
        *,
        clock: Callable[[], str],
        ensure_informer: EnsureInformer,
        status_delay: float = 0.0,
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._converger = converger
        self._queue = queue
        self._status_delay = status_delay
        self._memory = converger.memory
        self.table: Mapping[TargetKey, ClusterAddonsStatus] = self._memory.statuses
        """Each target's last status (read by the metrics)."""
        self._targets = TargetIndex(store, ensure_informer)
        self.owns: Callable[[Object], bool] = lambda bundle: True
        """Whether this replica reconciles a bundle (`function.reconciler.shards`)."""
        self.owns_cluster: Callable[[ObjectId], bool] | None = None
        """Whether this replica's shards hold a cluster; None when the fleet is not
        sharded."""
        self._publisher = StatusPublisher(StatusWriter(mgmt), events, clock)
        converger.drift.on_drift = self._look_again
        converger.arbiter.on_displaced = self._look_again
        converger.arbiter.on_released = self._look_again
        converger.arbiter.shared = lambda cid: len(self._targets.bundles_on(cid)) > 1
        self._rollouts = Rollouts()
        converger.connections.on_reconnect = self._cluster_changed  # catch up every target

    def shard_status(self, view: ShardView) -> None:
        """Write split bundles' status shard by shard (`function.reconciler.shardstatus`)."""
        self._publisher.split = ShardStatus(self._mgmt, view)

    # --- mapping changes to keys ---------------------------------------------------------

    def on_bundle(self, obj: Object) -> None:
        """A bundle changed: look at it again — unless only its status did (our own write)."""
        m = meta(obj)
        key = BundleKey(str(m.get("namespace", "")), str(m["name"]))
        self._publisher.writer.seen(obj)
        signature = (
            m.get("uid"),
            m.get("generation"),
            m.get("deletionTimestamp"),
            tuple(m.get("finalizers") or ()),
        )
        gone = self._store.get(BUNDLE, key.namespace, key.name) is None
        record = self._memory.bundle(key)
        if gone or record.signature != signature:
            record.signature = signature
            self._queue.add(key)
        elif self._publisher.moved(obj) and self._split(key, obj):
            self._queue.add_after(StatusKey(key), self._status_delay)  # its aggregates

    def on_cluster(self, obj: Object) -> None:
        """A cluster changed: look again at the targets on it and the selectors that may now
        (or no longer) match it."""
        self._cluster_changed(ObjectId.of(obj))

    def on_secret(self, obj: Object) -> None:
        """A kubeconfig Secret changed: look again at its cluster's targets."""
        m = meta(obj)
        cluster = (m.get("labels") or {}).get(CLUSTER_NAME_LABEL)
        if cluster:
            self._cluster_changed(ObjectId(CAPI_CLUSTER, str(m.get("namespace", "")), cluster))

    def _look_again(self, key: TargetKey) -> None:
        """A watched object of a target drifted, or another bundle took objects of it (or
        withdrew those it kept): converge that target now."""
        self._queue.add(key)

    def resync(self) -> None:
        """Queue everything: the periodic safety net."""
        for bundle in self._store.list(BUNDLE):
            self._queue.add(BundleKey(str(meta(bundle)["namespace"]), str(meta(bundle)["name"])))
        for key in list(self._memory.statuses):
            self._queue.add(key)

    def _cluster_changed(self, cid: ObjectId) -> None:
        for bundle in self._targets.bundles_on(cid):
            self._queue.add(TargetKey(bundle, cid))
        for bundle in self._targets.selecting(cid.namespace):
            self._queue.add(bundle)

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result:
        """Converge what ``key`` names (nothing, for a bundle of another replica's shard)."""
        bundle_key = key if isinstance(key, BundleKey) else key.bundle
        bundle = self._store.get(BUNDLE, bundle_key.namespace, bundle_key.name)
        if bundle is not None and self._split(bundle_key, bundle):
            if isinstance(key, TargetKey) and not self._owns_target(key):
                self._not_my_target(key)
                return DONE
        elif bundle is not None and not self.owns(bundle):
            self._not_mine(bundle_key, bundle)
            return DONE
        if isinstance(key, BundleKey):
            return await self._bundle(key)
        if isinstance(key, TargetKey):
            return await self._target(key)
        return await self._status(key.bundle)

    async def _bundle(self, key: BundleKey) -> Result:
        bundle = self._store.get(BUNDLE, key.namespace, key.name)
        if bundle is None:
            self._forget(key)
            return DONE
        if meta(bundle).get("deletionTimestamp"):
            return await self._finalize(key, bundle)
        if FINALIZER not in (meta(bundle).get("finalizers") or []):
            await self._add_finalizer(bundle)
        spec = self._spec(key, bundle)
        targets = (
            Targets(none_reason=str(spec))
            if isinstance(spec, SpecError)
            else self._targets.resolve(key, spec)
        )
        self._targets.index(key, targets)
        for cid in targets.clusters | self._known_clusters(key, bundle):
            self._queue.add(TargetKey(key, cid))
        self._queue.add(StatusKey(key))
        return DONE

    async def _target(self, key: TargetKey) -> Result:
        bundle = self._store.get(BUNDLE, key.bundle.namespace, key.bundle.name)
        if bundle is None or meta(bundle).get("deletionTimestamp"):
            return DONE
        spec = self._spec(key.bundle, bundle)
        if isinstance(spec, SpecError):
            return DONE  # keep what is applied until the spec is fixed
        cluster = self._store.get_id(key.cluster)
        if cluster is None:
            await self._converger.forget_cluster(key.cluster)
        previous = self._status_of(key) or entry_for(
            self._publisher.read(key.bundle, bundle), key.cluster
        )
        targets = self._targets.current(key.bundle, spec, key.cluster)  # as the store is now
        async with self._memory.bundle(key.bundle).running():  # `_finalize` waits for it
            if key.cluster not in targets.clusters:
                return await self._depart(key, bundle, spec, cluster, previous)
            if not self._admitted(key, bundle, spec, previous, len(targets.clusters)):
                self._queue.add_after(StatusKey(key.bundle), self._status_delay)
                return DONE  # waits for a place in the rollout; `_record` queues it then
            if self._generation_of(key) != _generation(bundle):
                logs.target_started(str(key.bundle), str(key.cluster), _generation(bundle))
            try:
                status, result = await self._converger.converge(
                    key, bundle, spec, cluster, previous
                )
            except Exception as exc:
                # A bug must not freeze the bundle's status: say so, then retry with backoff.
                ref = cluster_ref(key.cluster, cluster, spec)
                self._record(key, bundle, all_failed(ref, spec, previous, f"internal error: {exc}"))
                raise
        self._record(key, bundle, status)
        return result

    def _record(self, key: TargetKey, bundle: Object, status: ClusterAddonsStatus) -> None:
        """Keep a target's status; queue a status write when it (or the generation) moved."""
        generation = _generation(bundle)
        old = self._memory.converged(key)
        if old is None or old.status != status or old.generation != generation:
            finished = logs.target_progress(
                str(key.bundle),
                str(key.cluster),
                generation,
                old.status if old else None,
                status,
                was_finished=old is not None and old.finished == generation,
            )
            converged = Converged(status, generation, generation if finished else -1)
            self._memory.of(key).converged = converged
            self._queue.add_after(StatusKey(key.bundle), self._status_delay)
        targets = self._targets.get(key.bundle)
        clusters = targets.clusters if targets is not None else set()
        for cid in self._rollouts.record(key.bundle, key.cluster, status, clusters):
            self._queue.add(TargetKey(key.bundle, cid))

    def _admitted(
        self,
        key: TargetKey,
        bundle: Object,
        spec: AddonBundleSpec,
        previous: ClusterAddonsStatus | None,
        clusters: int,
    ) -> bool:
        """Whether the target may converge now: it has this generation already (or a status
        entry of it from before a restart), or the bundle's rollout gives it a place."""
        converged = self._generation_of(key)
        generation = _generation(bundle)
        if converged is None and previous is not None:  # an entry without one: as current
            converged = previous.observed_generation or generation

        def recorded() -> list[ClusterAddonsStatus]:
            status = self._publisher.read(key.bundle, bundle)
            entries = status.clusters if status else []
            return [e for e in entries if self._mine(key.bundle, spec, e.cluster_ref)]

        return self._rollouts.admit(
            key.bundle,
            generation,
            key.cluster,
            spec.max_update,
            clusters,
            recorded,
            current=converged == generation,
        )

    async def _depart(
        self,
        key: TargetKey,
        bundle: Object,
        spec: AddonBundleSpec,
        cluster: Object | None,
        previous: ClusterAddonsStatus | None,
    ) -> Result:
        """The bundle no longer targets this cluster: withdraw (or leave) its add-ons."""
        if (
            previous is not None
            and spec.stop_matching_behavior is StopMatchingBehavior.WITHDRAW_ADDONS
        ):
            try:
                await self._converger.withdraw(bundle, spec, key.cluster, cluster, previous)
            except UnavailableError as exc:
                return Result(retry=True, retry_after=exc.retry_after or 0.0)
        self._forget_target(key)
        self._rollouts.forget(key.bundle, key.cluster)
        self._queue.add(StatusKey(key.bundle))
        return DONE

    async def _status(self, key: BundleKey) -> Result:
        bundle = self._store.get(BUNDLE, key.namespace, key.name)
        if bundle is None or meta(bundle).get("deletionTimestamp"):
            return DONE
        targets = self._targets.get(key)
        if targets is None:
            return DONE  # its BundleKey has not run yet; it queues this key again
        split = self._split(key, bundle)
        current = [
            TargetKey(key, cid)
            for cid in sorted(targets.clusters)
            if not split or self._owns_target(TargetKey(key, cid))
        ]
        if any(
            self._generation_of(t) != _generation(bundle)
            and not self._rollouts.waiting(key, t.cluster)
            for t in current
        ):
            return DONE  # a target has not converged this generation; it queues this key
        mine = [
            stamped(m.status, m.generation)
            for t in current
            if (m := self._memory.converged(t)) is not None
        ]
        spec = self._spec(key, bundle)
        return await self._publisher.publish(
            key,
            bundle,
            mine,
            (lambda ref: self._mine(key, spec, ref)) if split else None,
            generation=_generation(bundle),
            spec_error=str(spec) if isinstance(spec, SpecError) else None,
            no_targets=targets.none_reason,
            writes=isinstance(spec, SpecError) or spec.policy.writes,
            rollout=self._rollouts.status(key),
        )

    # --- finalizer and deletion ----------------------------------------------------------

    async def _add_finalizer(self, bundle: Object) -> None:
        m = meta(bundle)
        current = m.get("finalizers")
        patch = (
            [
                {"op": "test", "path": "/metadata/finalizers", "value": current},
                {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
            ]
            if current
            else [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]
        )
        await self._mgmt.patch(
            API_VERSION, KIND, m["name"], m["namespace"], patch, patch_type=PatchType.JSON
        )

    async def _finalize(self, key: BundleKey, bundle: Object) -> Result:
        finalizers = list(meta(bundle).get("finalizers") or [])
        if FINALIZER not in finalizers:
            return DONE
        await self._memory.bundle(key).until_idle()  # an apply begun before deletion ends
        spec = self._spec(key, bundle)
        parsed = None if isinstance(spec, SpecError) else spec
        split = self._split(key, bundle)
        if parsed is None or parsed.stop_matching_behavior is StopMatchingBehavior.WITHDRAW_ADDONS:
            for cid in self._known_clusters(key, bundle):
                if split and not self._owns_target(TargetKey(key, cid)):
                    continue  # another replica's to withdraw
                previous = self._status_of(TargetKey(key, cid)) or entry_for(
                    self._publisher.read(key, bundle), cid
                )
                if previous is None:
                    continue
                try:
                    await self._converger.withdraw(
                        bundle, parsed, cid, self._store.get_id(cid), previous
                    )
                except UnavailableError as exc:
                    return Result(retry=True, retry_after=exc.retry_after or 0.0)
        if split and await self._publisher.hand_over(
            key, bundle, lambda ref: self._mine(key, spec, ref)
        ):
            self._forget(key)
            return DONE  # the last replica to withdraw lets the bundle go
        patch = [
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {
                "op": "replace",
                "path": "/metadata/finalizers",
                "value": [f for f in finalizers if f != FINALIZER],
            },
        ]
        with contextlib.suppress(NotFoundError):
            await self._mgmt.patch(
                API_VERSION, KIND, key.name, key.namespace, patch, patch_type=PatchType.JSON
            )
        self._forget(key)
        return DONE

    # --- bookkeeping ---------------------------------------------------------------------

    def _status_of(self, key: TargetKey) -> ClusterAddonsStatus | None:
        converged = self._memory.converged(key)
        return converged.status if converged else None

    def _generation_of(self, key: TargetKey) -> int | None:
        converged = self._memory.converged(key)
        return converged.generation if converged else None

    def _forget_target(self, key: TargetKey) -> None:
        """Drop all that is kept about a target (its record, its drift watch)."""
        self._converger.forget(key)

    def _spec(self, key: BundleKey, bundle: Object) -> AddonBundleSpec | SpecError:
        m = meta(bundle)
        uid, generation = str(m.get("uid", "")), _generation(bundle)
        record = self._memory.bundle(key)
        cached = record.spec
        if cached is not None and cached[:2] == (uid, generation):
            return cached[2]
        spec: AddonBundleSpec | SpecError
        try:
            spec = _tenant_checked(parse_bundle_spec(bundle.get("spec")), key.namespace)
        except SpecError as exc:
            spec = exc
        record.spec = (uid, generation, spec)
        return spec

    def _split(self, key: BundleKey, bundle: Object) -> bool:
        """Whether the fleet is sharded and each replica converges the bundle on the clusters
        of its own shards (`splits`)."""
        return self.owns_cluster is not None and splits(self._spec(key, bundle))

    def _owns_target(self, key: TargetKey) -> bool:
        return self.owns_cluster is None or self.owns_cluster(key.cluster)

    def _mine(self, key: BundleKey, spec: AddonBundleSpec | SpecError, ref: ObjectRef) -> bool:
        """Whether this replica writes the status entry of a cluster: every entry, unless
        the bundle is split over shards and the cluster is another's."""
        if self.owns_cluster is None or not splits(spec):
            return True
        gk = GroupKind.of(ref.api_version, ref.kind)
        return self.owns_cluster(ObjectId(gk, ref.namespace or key.namespace, ref.name))

    def _not_my_target(self, key: TargetKey) -> None:
        """Another replica's shard holds the cluster: forget what was known of the target
        (its status entry is the other's to write)."""
        self._forget_target(key)

    def _known_clusters(self, key: BundleKey, bundle: Object) -> set[ObjectId]:
        """Clusters this bundle has status for, in memory or in its status."""
        known = {t.cluster for t in self._memory.statuses if t.bundle == key}
        status = self._publisher.read(key, bundle)
        for entry in status.clusters if status else []:
            ref = entry.cluster_ref
            known.add(
                ObjectId(
                    GroupKind.of(ref.api_version, ref.kind),
                    ref.namespace or key.namespace,
                    ref.name,
                )
            )
        return known

    def _not_mine(self, key: BundleKey, bundle: Object) -> None:
        """Another replica reconciles the bundle: keep only the index that brings it back
        when its cluster changes, and forget the rest (its status is the other's to write)."""
        for target in self._memory.targets(key):
            self._forget_target(target)
        self._publisher.forget_written(key)
        spec = self._spec(key, bundle)
        self._targets.index(
            key, Targets() if isinstance(spec, SpecError) else self._targets.resolve(key, spec)
        )

    def _forget(self, key: BundleKey) -> None:
        """Drop all that is kept of a bundle that is gone: its record, its targets'."""
        self._memory.forget_bundle(key)
        self._targets.drop(key)
        self._publisher.forget(key)
        self._rollouts.forget(key)
        for target in self._memory.targets(key):
            self._forget_target(target)


def _generation(bundle: Object) -> int:
    return int(meta(bundle).get("generation") or 0)


def _tenant_checked(spec: AddonBundleSpec, namespace: str) -> AddonBundleSpec:
    """A namespaced bundle may only target clusters in its own namespace."""
    ref = spec.cluster_ref
    if ref is not None and ref.namespace not in (None, namespace):
        raise SpecError.at(
            "spec.clusterRef.namespace",
            f"a bundle may only target clusters in its own namespace ({namespace})",
        )
    return spec
