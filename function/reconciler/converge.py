"""One bundle on one cluster: from the cluster's readiness to every add-on applied and healthy.

`Converger.converge` is the body of a `TargetKey` reconcile. It reads the world (cluster
readiness, then through `inputs` the workload client and template inputs, then what is live in
the workload cluster), walks the add-ons in dependency order and returns the cluster's
`ClusterAddonsStatus`:

- an add-on waits (`Pending`) for its dependencies and for the cluster gate it names;
- an unchanged input hash with a done add-on costs no render and no request to the workload
  cluster; a changed one renders (in a worker thread), applies only changed objects and
  prunes what is no longer rendered;
- health (`gate`) decides between `Waiting` and `Healthy`; only then do dependants start. A
  waiting add-on is judged again from the drift watches' copies of its objects while they are
  synced and current, otherwise from a read of its kinds;
- a bad template, chart, Lua rule or conflict fails that add-on alone, with nothing of it
  applied;
- in ``ContinuousWithDriftDetection`` mode the applied kinds are watched (`driftwatch`): a
  drifted object queues its target at once, and its check takes drifted objects back
  (`heal`); once per drift period the check runs anyway, as the safety net.

`withdraw` removes a bundle's add-ons from a cluster, in reverse dependency order. What a pass
knows is its `TargetPass`; reading, hashing and rendering an add-on is `AddonRenderer`'s
(`function.reconciler.rendering`), a DryRun's plan `function.reconciler.plan`'s; how soon a
target that is not done is looked at again is its `Timing` (`function.reconciler.timing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from functools import partial

from function.errors import (
    ChartAccessError,
    ChartError,
    ForbiddenError,
    InvalidError,
    KubeError,
    LuaError,
    NotFoundError,
    RenderError,
    SecretNamespaceError,
    UnavailableError,
)
from function.kube.client import KubeClient
from function.kube.clients import WorkloadClients
from function.lua.health import compile_health_rule
from function.model.bundle import AddonBundleSpec, AddonSpec, ClusterGate, dependency_order
from function.model.bundlestatus import (
    READY_PHASES,
    AddonPhase,
    AddonStatus,
    ClusterAddonsStatus,
    ConnectionStatus,
)
from function.model.objects import Object, meta
from function.reconciler.apply import (
    KnownNamespaces,
    Owner,
    apply_objects,
    read_owned,
    withdraw,
)
from function.reconciler.conflicts import Arbiter, conflict_message
from function.reconciler.connection import Connections
from function.reconciler.convergepass import Step, TargetPass, soonest
from function.reconciler.driftwatch import DriftWatch, kept_health
from function.reconciler.failures import (
    Failure,
    Reason,
    classify,
    cluster_unreachable,
    secret_out_of_scope,
)
from function.reconciler.gate import HealthGate, lua_message
from function.reconciler.heal import Healer
from function.reconciler.helm import ChartRenderer
from function.reconciler.inputs import Inputs, referenced_names
from function.reconciler.keys import BundleKey, Result, TargetKey
from function.reconciler.memory import Memory
from function.reconciler.metrics import ApplyCounts
from function.reconciler.plan import planned_addon
from function.reconciler.readiness import ClusterReadiness, allocatable_gpus, cluster_readiness
from function.reconciler.rendering import AddonRenderer, Sources
from function.reconciler.secretscope import SecretScope
from function.reconciler.status import (
    all_held,
    all_pending,
    cluster_ref,
    cluster_status,
    drift_after,
    failed_addon,
    held_addon,
    last_applied,
    pending_addon,
)
from function.reconciler.store import ObjectId, Store
from function.reconciler.timing import Timing

log = logging.getLogger(__name__)


class Converger:
    """Converges targets; shared by every worker."""

    def __init__(
        self,
        mgmt: KubeClient,
        clients: WorkloadClients,
        charts: ChartRenderer,
        store: Store,
        *,
        render_pool: Executor,
        fetch_pool: Executor,
        clock: Callable[[], str],
        timing: Timing | None = None,
        counts: ApplyCounts | None = None,
        secret_scope: SecretScope | None = None,
    ) -> None:
        self.counts = counts or ApplyCounts()
        self._inputs = Inputs(mgmt, clients, store, secret_scope)
        self._renderer = AddonRenderer(
            self._inputs, charts, render_pool=render_pool, fetch_pool=fetch_pool, counts=self.counts
        )
        self._namespaces = KnownNamespaces()
        self._clock = clock
        self._timing = timing or Timing()
        self.memory = Memory()
        """What is kept of every target between passes (its status, as the reconciler
        records it, too)."""
        self._healer = Healer(self._timing.drift, self.memory, time.monotonic)
        self.drift = DriftWatch(self._inputs, store, self._healer)
        self.arbiter = Arbiter(self.memory)
        self._gate = HealthGate(render_pool, self._timing.waiting)
        reconnect = self._timing.reconnect
        self.connections = Connections(
            now=clock,
            threshold=self._timing.down_after,
            first_probe=min(1.0, reconnect),
            longest=reconnect,
        )

    async def converge(
        self,
        key: TargetKey,
        bundle: Object,
        spec: AddonBundleSpec,
        cluster: Object | None,
        previous: ClusterAddonsStatus | None,
    ) -> tuple[ClusterAddonsStatus, Result]:
        """The status of ``spec`` on ``cluster`` after doing what can be done now."""
        cluster_id = key.cluster
        ref = cluster_ref(cluster_id, cluster, spec)
        if cluster is None:
            return all_pending(ref, spec, previous, f"{cluster_id} not found"), Result()
        readiness = cluster_readiness(cluster)
        if readiness.skip is not None or not readiness.control_plane_initialized:
            return all_pending(ref, spec, previous, readiness.message), Result()
        if (wait := self.connections.hold(cluster_id)) is not None:  # Down: no request until due
            held = all_held(ref, spec, previous, self._down(cluster_id))
            return self.connections.mark(cluster_id, held), Result(requeue_after=wait)
        namespace = str(meta(bundle)["namespace"])
        try:
            client = await self._inputs.workload_client(spec, cluster_id, cluster)
            await self.connections.probe(cluster_id, client)
            sources = {a.name: await self._renderer.sources(a, namespace) for a in spec.addons}
            needs = referenced_names(spec, sources)
            context = await self._inputs.context(namespace, spec, cluster, needs)
        except SecretNamespaceError as exc:  # the flag or the bundle must change, not retried
            return all_held(ref, spec, previous, secret_out_of_scope(exc)), Result()
        except (NotFoundError, InvalidError, ForbiddenError, RenderError) as exc:
            status = all_pending(ref, spec, previous, str(exc))
            return status, Result(requeue_after=self._timing.gpu)
        except UnavailableError as exc:
            status = all_held(ref, spec, previous, cluster_unreachable(exc))
            return self._unreachable(cluster_id, status, exc, previous)
        before = {a.name: a for a in (previous.addons if previous else [])}
        memory = self.memory.of(key)
        target = TargetPass(bundle, spec, client, context, before, self._clock(), key, memory)
        drifting = spec.policy.watches_drift
        target.check_drift = drifting and self._healer.due(key, memory)
        addons: dict[str, AddonStatus] = {}
        again: list[float | None] = []
        try:
            await self._withdraw_removed(target)
        except UnavailableError as exc:
            held = all_held(ref, spec, previous, cluster_unreachable(exc))
            return self._unreachable(cluster_id, held, exc, previous)
        except KubeError as exc:
            log.warning("withdrawing removed add-ons from %s: %s", cluster_id, exc)
            assert previous is not None  # something was removed, so something was there
            return previous, Result(retry=True, retry_after=exc.retry_after or 0.0)
        try:
            for addon in dependency_order(spec.addons):
                step = await self._addon(target, addon, readiness, addons, sources[addon.name])
                addons[addon.name] = step.status
                again.append(step.again)
        except UnavailableError as exc:
            failure = cluster_unreachable(exc)
            for addon in spec.addons:
                addons.setdefault(
                    addon.name, held_addon(addon.name, before, failure, rerender=False)
                )
            status = cluster_status(
                ref, spec, addons, drift_after(previous, target.repaired, target.now)
            )
            return self._unreachable(cluster_id, status, exc, previous)
        self.connections.answered(cluster_id)
        self.counts.written += target.repaired
        if target.check_drift:
            self._healer.checked(memory, target.repaired)
        watched = drifting and self._timing.drift_watch
        kinds = {k for a in addons.values() for k in a.kinds} if watched else set()
        self.drift.want(key, kinds, spec)
        status = cluster_status(
            ref, spec, addons, drift_after(previous, target.repaired, target.now)
        )
        requeue = soonest(*again, self._healer.wait(memory) if drifting else None)
        return status, Result(requeue_after=requeue)

    def _unreachable(
        self,
        cluster_id: ObjectId,
        status: ClusterAddonsStatus,
        exc: UnavailableError,
        previous: ClusterAddonsStatus | None,
    ) -> tuple[ClusterAddonsStatus, Result]:
        """A target whose cluster did not answer: counted; retried with back-off, or at the
        next probe once the cluster is Down (as its status may say already)."""
        down = previous is not None and previous.connection_status is ConnectionStatus.DOWN
        since = previous.down_since if previous is not None and down else None
        message = cluster_unreachable(exc).message
        probe = self.connections.failed(cluster_id, message, down_since=since)
        status = self.connections.mark(cluster_id, status)
        if probe is not None:
            return status, Result(requeue_after=probe)
        return status, Result(retry=True, retry_after=exc.retry_after or 0.0)

    def _down(self, cluster_id: ObjectId) -> Failure:
        return Failure(Reason.CLUSTER_UNREACHABLE, self.connections.message(cluster_id))

    def forget(self, key: TargetKey) -> None:
        """Drop all that is kept of a target that is no more, and stop watching it."""
        self.drift.want(key, ())
        self.memory.forget(key)

    async def forget_cluster(self, cluster_id: ObjectId) -> None:
        """Close and drop the client of a cluster that is gone."""
        self.connections.forget(cluster_id)
        await self._inputs.forget(cluster_id)

    async def withdraw(
        self,
        bundle: Object,
        spec: AddonBundleSpec | None,
        cluster_id: ObjectId,
        cluster: Object | None,
        previous: ClusterAddonsStatus,
    ) -> None:
        """Remove what ``previous`` says the bundle applied on the cluster."""
        if cluster is None or meta(cluster).get("deletionTimestamp"):
            return  # the cluster is going away with everything on it
        try:
            client = await self._inputs.workload_client(spec, cluster_id, cluster)
        except NotFoundError:
            return  # no kubeconfig any more: nothing can be reached
        order = [a.name for a in dependency_order(spec.addons)] if spec else []
        names = [*reversed(order), *(a.name for a in previous.addons if a.name not in order)]
        kinds = {a.name: a.kinds for a in previous.addons}
        for name in names:
            owner = Owner(str(meta(bundle)["namespace"]), str(meta(bundle)["name"]), name)
            removed = await withdraw(client, owner, kinds.get(name, []))
            log.info("withdrew %d objects of add-on %s from %s", removed, name, cluster_id)
        m = meta(bundle)
        self.arbiter.withdrawn(BundleKey(str(m["namespace"]), str(m["name"])), cluster_id)

    # --- one add-on ----------------------------------------------------------------------

    async def _addon(
        self,
        target: TargetPass,
        addon: AddonSpec,
        readiness: ClusterReadiness,
        done: Mapping[str, AddonStatus],
        sources: Sources,
    ) -> Step:
        """One add-on's step of the pass: its status, and when it wants another look."""
        previous = target.previous.get(addon.name)
        policy = target.spec.policy
        blocked = [
            d
            for d in (addon.depends_on if policy.follows_dependencies else ())
            if done[d].phase not in READY_PHASES
        ]
        if blocked:
            waits = f"waiting for {', '.join(blocked)}"
            return Step(pending_addon(addon.name, target.previous, waits))
        if not policy.reapplies and _done(previous):
            assert previous is not None
            return Step(previous)
        if isinstance(sources, RenderError):
            reason = Reason.TEMPLATE_FAILED
            return Step(failed_addon(addon.name, None, previous, str(sources), reason))
        owner = target.owner(addon.name)
        input_hash: str | None = None
        try:
            target.access[addon.name] = await self._renderer.chart_access(target, addon)
            input_hash, render_key = await self._renderer.input_hash(target, addon, sources)
            # A failed add-on renders again: its hash records inputs that were never applied.
            lost = self.arbiter.lost(target.key, addon.name)  # to another bundle: report it
            if (
                previous
                and previous.hash == input_hash
                and previous.phase is not AddonPhase.FAILED
                and not lost
            ):
                return await self._unchanged(
                    target, addon, owner, previous, sources.texts, render_key
                )
            if not readiness.allows(addon.gate):
                return Step(pending_addon(addon.name, target.previous, readiness.message))
            if addon.gate is ClusterGate.GPU_ALLOCATABLE and not await self._gpus(target):
                gpus = pending_addon(addon.name, target.previous, "waiting for allocatable GPUs")
                return Step(gpus, self._timing.gpu)
            if addon.health.lua is not None:  # a bad rule fails the add-on before any write
                compile_health_rule(addon.health.lua, name=addon.name)
            objects = await self._renderer.render(target, addon, owner, sources.texts, render_key)
            if not policy.writes:
                plan = await planned_addon(
                    target.client,
                    owner,
                    objects,
                    previous,
                    input_hash,
                    tier=target.spec.tier,
                    force=addon.force_conflicts,
                )
                return Step(plan)
            return await self._apply(target, addon, owner, objects, previous, input_hash)
        except ChartError as exc:
            failure = classify(exc)
            # Fixed in a Secret (not watched): look again later.
            again = self._timing.credentials if isinstance(exc, ChartAccessError) else None
            if not failure.transient:
                failed = failed_addon(
                    addon.name, input_hash, previous, failure.message, failure.reason
                )
                return Step(failed, again)
            # The repository did not answer: this add-on waits and retries, the others go on.
            retry = self._gate.retry(target.memory, addon.name)
            held = held_addon(addon.name, target.previous, failure, rerender=True)
            return Step(held, soonest(again, retry))
        except LuaError as exc:
            message = lua_message(addon, exc)
            reason = classify(exc).reason
            return Step(failed_addon(addon.name, input_hash, previous, message, reason))
        except UnavailableError:
            raise  # the whole target waits and retries
        except (RenderError, KubeError) as exc:  # refused by the cluster: this add-on only
            failure = classify(exc)
            failed = failed_addon(addon.name, input_hash, previous, failure.message, failure.reason)
            return Step(failed)

    async def _unchanged(
        self,
        target: TargetPass,
        addon: AddonSpec,
        owner: Owner,
        previous: AddonStatus,
        sources: dict[str, str],
        render_key: str,
    ) -> Step:
        """Inputs as last applied: done stays done (checking drift when due), a dry run's
        plan stands, others are judged again from what is live."""
        if not target.spec.policy.writes:
            return Step(previous)
        if previous.phase in READY_PHASES:
            if target.check_drift and previous.hash is not None:
                target.repaired += await self._healer.heal(
                    target.client,
                    target.key,
                    owner,
                    addon,
                    partial(self._renderer.render, target, addon, owner, sources, render_key),
                )
            return Step(previous)
        kinds = self._gate.kinds_to_read(target.memory, addon.name, previous.kinds)
        copies = self.drift.owned(target.key.cluster, kinds, owner)
        watched = self._gate.watched(target.memory, addon, copies)
        if watched is not None:  # as the watches know them: no read
            verdicts = [kept_health(o) for o in watched]
            return await self._gate.judge(target.memory, addon, previous, watched, verdicts)
        live = await read_owned(target.client, owner, kinds)
        return await self._gate.judge(target.memory, addon, previous, list(live.values()))

    async def _apply(
        self,
        target: TargetPass,
        addon: AddonSpec,
        owner: Owner,
        objects: list[Object],
        previous: AddonStatus | None,
        input_hash: str,
    ) -> Step:
        if addon.namespace:
            await self._namespaces.ensure(target.client, addon.namespace)
        claim = await self.arbiter.claim(target.client, target.key, owner, objects, target.spec)
        conflicts = claim.conflicts or None
        if conflicts and not target.spec.continue_on_conflict:
            failed = failed_addon(addon.name, input_hash, previous, conflict_message(conflicts))
            return Step(failed.model_copy(update={"conflicts": conflicts}))
        objects = claim.objects
        apply = partial(
            apply_objects,
            target.client,
            owner,
            objects,
            previous_kinds=_applied_kinds(previous),
            force=addon.force_conflicts,
        )
        try:
            applied = await apply()
        except NotFoundError:
            if not addon.namespace or not self._namespaces.forget(target.client, addon.namespace):
                raise
            await self._namespaces.ensure(target.client, addon.namespace)  # deleted: once more
            applied = await apply()
        self.counts.written += applied.written
        self.counts.pruned += applied.pruned
        self.arbiter.pruned(target.key.bundle, target.key.cluster, applied.stale)
        if applied.written and target.spec.policy.watches_drift:
            self._healer.applied(target.memory)
        base = AddonStatus(
            name=addon.name,
            phase=AddonPhase.WAITING,
            hash=input_hash,
            resources=len(objects),
            kinds=applied.kinds,
            conflicts=conflicts,
            last_applied_time=(
                target.now if applied.written or applied.pruned else last_applied(previous)
            ),
        )
        if applied.waiting is not None:  # a CRD is not served yet: apply again next time
            unserved = base.model_copy(update={"hash": None, "message": applied.waiting})
            return Step(unserved, self._gate.retry(target.memory, addon.name))
        self._gate.settled(target.memory, addon.name)
        return await self._gate.judge(target.memory, addon, base, applied.live)

    async def _withdraw_removed(self, target: TargetPass) -> None:
        """Withdraw the add-ons the bundle no longer has (their status entries go too)."""
        if not target.spec.policy.writes:
            return
        names = {a.name for a in target.spec.addons}
        for name, previous in target.previous.items():
            if name not in names:
                removed = await withdraw(target.client, target.owner(name), previous.kinds)
                self.counts.pruned += removed
                log.info("withdrew %d objects of removed add-on %s", removed, name)
                self.arbiter.withdrawn(target.key.bundle, target.key.cluster)

    async def _gpus(self, target: TargetPass) -> bool:
        """Whether some Node of the cluster has allocatable GPUs (read once per pass)."""
        if target.gpu_capacity is None:
            nodes = await target.client.list("v1", "Node")
            target.gpu_capacity = any(allocatable_gpus(n) > 0 for n in nodes.items)
        return target.gpu_capacity


# --- pure helpers --------------------------------------------------------------------------


def _applied_kinds(previous: AddonStatus | None) -> list[str] | None:
    """The kinds an earlier apply may have left objects of; None when nothing was applied
    (no status, or only ever pending), so a first install reads nothing before writing."""
    if previous is None or (previous.phase is AddonPhase.PENDING and not previous.kinds):
        return None
    return previous.kinds


def _done(previous: AddonStatus | None) -> bool:
    return previous is not None and previous.phase in READY_PHASES
