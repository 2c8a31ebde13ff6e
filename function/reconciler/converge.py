"""One bundle on one cluster: from the cluster's readiness to every add-on applied and healthy.

`Converger.converge` is the body of a `TargetKey` reconcile. It reads the world (cluster
readiness, the kubeconfig Secret, referenced objects, what is live in the workload cluster),
walks the add-ons in dependency order and returns the cluster's `ClusterAddonsStatus`:

- an add-on waits (`Pending`) for the cluster gate it names and for its dependencies;
- an unchanged input hash with a done add-on costs no render and no request to the workload
  cluster; a changed one renders (in a worker thread), applies only changed objects and
  prunes what is no longer rendered;
- health decides between `Waiting` and `Healthy`; only then do dependants start;
- a bad template, chart or conflict fails that add-on alone, with nothing of it applied.

`withdraw` removes a bundle's add-ons from a cluster, in reverse dependency order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from math import inf
from typing import Any

from function.errors import (
    ChartError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    RenderError,
    SourceLocation,
    UnavailableError,
)
from function.kube.client import KubeClient, Object, describe, meta
from function.kube.clients import WorkloadClients, kubeconfig_from_secret
from function.model.bundle import (
    READY_PHASES,
    AddonBundleSpec,
    AddonPhase,
    AddonSpec,
    AddonStatus,
    ClusterAddonsStatus,
    ClusterGate,
    DriftStatus,
    SyncMode,
    dependency_order,
)
from function.model.common import ObjectRef
from function.reconciler.apply import (
    Owner,
    apply_object,
    apply_objects,
    ensure_namespace,
    identity,
    kind_key,
    prepare,
    read_owned,
    resolve_kinds,
    withdraw,
)
from function.reconciler.drift import exclusions_for, find_drift
from function.reconciler.hashing import HASH_ANNOTATION, addon_input_hash
from function.reconciler.health import HealthStatus, builtin_health
from function.reconciler.helm import ChartRenderer
from function.reconciler.keys import Result
from function.reconciler.manifests import manifest_templates
from function.reconciler.metrics import ApplyCounts
from function.reconciler.readiness import (
    ClusterReadiness,
    allocatable_gpus,
    cluster_readiness,
    kubeconfig_location,
)
from function.reconciler.render import render_addon
from function.reconciler.status import (
    all_pending,
    cluster_status,
    failed_addon,
    last_applied,
    pending_addon,
)
from function.reconciler.store import ObjectId
from function.reconciler.templates import TemplateContext

log = logging.getLogger(__name__)

INTENT_CACHE_SIZE = 4096
"""Add-ons on clusters whose applied objects are kept for drift checks (others re-render)."""


@dataclass(frozen=True)
class Timing:
    """How soon to look again at a target that is not done."""

    waiting: float = 2.0
    """An add-on applied and waiting for health."""
    gpu: float = 10.0
    """An add-on waiting for GPU capacity (Nodes are not watched)."""
    drift: float = 60.0
    """Between drift checks of a target in ContinuousWithDriftDetection mode."""


@dataclass
class _Target:
    """What one converge pass knows about its bundle and cluster."""

    bundle: Object
    spec: AddonBundleSpec
    cluster: Object
    client: KubeClient
    context: TemplateContext
    previous: dict[str, AddonStatus]
    now: str
    key: str = ""
    """``<bundle namespace>/<bundle name>@<cluster>``: this target in caches."""
    requeue: list[float] = field(default_factory=list)
    gpu_capacity: bool | None = None
    check_drift: bool = False
    repaired: int = 0

    @property
    def namespace(self) -> str:
        return str(meta(self.bundle)["namespace"])

    def owner(self, addon: str) -> Owner:
        return Owner(self.namespace, str(meta(self.bundle)["name"]), addon)


class Converger:
    """Converges targets; shared by every worker."""

    def __init__(
        self,
        mgmt: KubeClient,
        clients: WorkloadClients,
        charts: ChartRenderer,
        *,
        render_pool: Executor,
        clock: Callable[[], str],
        timing: Timing | None = None,
        counts: ApplyCounts | None = None,
    ) -> None:
        self.counts = counts or ApplyCounts()
        self._mgmt = mgmt
        self._clients = clients
        self._charts = charts
        self._pool = render_pool
        self._clock = clock
        self._timing = timing or Timing()
        self._intents: OrderedDict[tuple[str, str], tuple[str, list[Object]]] = OrderedDict()
        self._drift_checked: dict[str, float] = {}

    async def converge(
        self,
        bundle: Object,
        spec: AddonBundleSpec,
        cluster_id: ObjectId,
        cluster: Object | None,
        previous: ClusterAddonsStatus | None,
    ) -> tuple[ClusterAddonsStatus, Result]:
        """The status of ``spec`` on ``cluster`` after doing what can be done now."""
        before = {a.name: a for a in (previous.addons if previous else [])}
        ref = _cluster_ref(cluster_id, cluster, spec)
        if cluster is None:
            return all_pending(ref, spec, previous, f"{cluster_id} not found"), Result()
        readiness = cluster_readiness(cluster)
        if readiness.skip is not None or not readiness.control_plane_initialized:
            return all_pending(ref, spec, previous, readiness.message), Result()
        try:
            client = await self._workload_client(bundle, spec, cluster_id, cluster)
            context = await self._context(bundle, spec, cluster)
        except (NotFoundError, InvalidError, ForbiddenError, RenderError) as exc:
            status = all_pending(ref, spec, previous, str(exc))
            return status, Result(requeue_after=self._timing.gpu)
        except UnavailableError as exc:
            status = all_pending(ref, spec, previous, f"workload cluster unreachable: {exc}")
            return status, Result(retry=True, retry_after=exc.retry_after or 0.0)
        target = _Target(bundle, spec, cluster, client, context, before, self._clock())
        target.key = f"{target.namespace}/{meta(bundle)['name']}@{cluster_id}"
        target.check_drift = self._drift_due(target)
        try:
            await self._withdraw_removed(target)
        except UnavailableError as exc:
            assert previous is not None  # something was removed, so something was there
            return previous, Result(retry=True, retry_after=exc.retry_after or 0.0)
        addons: dict[str, AddonStatus] = {}
        try:
            for addon in dependency_order(spec.addons):
                addons[addon.name] = await self._addon(target, addon, readiness, addons)
        except UnavailableError as exc:
            message = f"workload cluster unreachable: {exc}"
            for addon in spec.addons:
                addons.setdefault(addon.name, pending_addon(addon.name, before, message))
            status = cluster_status(ref, spec, addons, _drift(previous, target))
            return status, Result(retry=True, retry_after=exc.retry_after or 0.0)
        status = cluster_status(ref, spec, addons, _drift(previous, target))
        if spec.sync_mode is SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION:
            target.requeue.append(self._timing.drift)
        requeue = min(target.requeue) if target.requeue else None
        return status, Result(requeue_after=requeue)

    def _drift_due(self, target: _Target) -> bool:
        """Whether this pass checks the target for drift (at most once per period)."""
        if target.spec.sync_mode is not SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION:
            return False
        now = time.monotonic()
        if now - self._drift_checked.get(target.key, -inf) < self._timing.drift * 0.9:
            return False
        self._drift_checked[target.key] = now
        return True

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
            client = await self._workload_client(bundle, spec, cluster_id, cluster)
        except NotFoundError:
            return  # no kubeconfig any more: nothing can be reached
        order = [a.name for a in dependency_order(spec.addons)] if spec else []
        names = [*reversed(order), *(a.name for a in previous.addons if a.name not in order)]
        kinds = {a.name: a.kinds for a in previous.addons}
        for name in names:
            owner = Owner(str(meta(bundle)["namespace"]), str(meta(bundle)["name"]), name)
            removed = await withdraw(client, owner, kinds.get(name, []))
            log.info("withdrew %d objects of add-on %s from %s", removed, name, cluster_id)

    async def _withdraw_removed(self, target: _Target) -> None:
        """Withdraw the add-ons the bundle no longer has (their status entries go too)."""
        if target.spec.sync_mode is SyncMode.DRY_RUN:
            return
        names = {a.name for a in target.spec.addons}
        for name, previous in target.previous.items():
            if name not in names:
                removed = await withdraw(target.client, target.owner(name), previous.kinds)
                self.counts.pruned += removed
                log.info("withdrew %d objects of removed add-on %s", removed, name)

    # --- one add-on ----------------------------------------------------------------------

    async def _addon(
        self,
        target: _Target,
        addon: AddonSpec,
        readiness: ClusterReadiness,
        done: Mapping[str, AddonStatus],
    ) -> AddonStatus:
        previous = target.previous.get(addon.name)
        blocked = [d for d in addon.depends_on if done[d].phase not in READY_PHASES]
        if blocked:
            return pending_addon(addon.name, target.previous, f"waiting for {', '.join(blocked)}")
        if not readiness.allows(addon.gate):
            return pending_addon(addon.name, target.previous, readiness.message)
        if addon.gate is ClusterGate.GPU_ALLOCATABLE and not await self._gpu_capacity(target):
            target.requeue.append(self._timing.gpu)
            return pending_addon(addon.name, target.previous, "waiting for allocatable GPUs")
        if (
            target.spec.sync_mode is SyncMode.ONE_TIME
            and previous is not None
            and previous.phase in READY_PHASES
        ):
            return previous
        owner = target.owner(addon.name)
        input_hash: str | None = None
        try:
            sources = await self._manifest_sources(target, addon)
            input_hash, rendered = await self._plan(target, addon, sources, previous)
            if rendered is None and previous is not None:
                if previous.phase in READY_PHASES:
                    if target.check_drift:
                        await self._heal(target, addon, owner, input_hash, sources)
                    return previous
                live = await read_owned(target.client, owner, previous.kinds)
                return self._judge(target, addon, previous, input_hash, list(live.values()))
            infos = await resolve_kinds(target.client, rendered or [], addon=addon.name)
            namespace = addon.namespace or "default"
            objects = prepare(rendered or [], owner, infos, default_namespace=namespace)
            if target.spec.sync_mode is SyncMode.DRY_RUN:
                return await self._dry_run(target, addon, owner, objects, previous, input_hash)
            if addon.namespace:
                await ensure_namespace(target.client, addon.namespace)
            self._remember(target, addon, input_hash, objects)
            applied = await apply_objects(
                target.client,
                owner,
                objects,
                previous_kinds=previous.kinds if previous else [],
                force=addon.force_conflicts,
            )
        except ChartError as exc:
            if exc.transient:
                raise UnavailableError(str(exc)) from exc
            return failed_addon(addon.name, input_hash, previous, str(exc))
        except (RenderError, ConflictError, InvalidError, ForbiddenError) as exc:
            return failed_addon(addon.name, input_hash, previous, str(exc))
        self.counts.written += applied.written
        self.counts.pruned += applied.pruned
        kinds = applied.kinds
        when = target.now if applied.written or applied.pruned else last_applied(previous)
        if applied.waiting is not None:
            target.requeue.append(self._timing.waiting)
            return AddonStatus(
                name=addon.name,
                phase=AddonPhase.WAITING,
                hash=None,
                resources=len(objects),
                kinds=kinds,
                message=applied.waiting,
                last_applied_time=when,
            )
        base = AddonStatus(
            name=addon.name,
            phase=AddonPhase.WAITING,
            hash=input_hash,
            resources=len(objects),
            kinds=kinds,
            last_applied_time=when,
        )
        return self._judge(target, addon, base, input_hash, applied.live)

    async def _heal(
        self,
        target: _Target,
        addon: AddonSpec,
        owner: Owner,
        input_hash: str,
        sources: dict[str, str],
    ) -> None:
        """Re-apply, taking the fields back, every object that drifted from what was applied."""
        intent = self._intents.get((target.key, addon.name))
        if intent is None or intent[0] != input_hash:
            _, rendered = await self._plan(target, addon, sources, None)
            infos = await resolve_kinds(target.client, rendered or [], addon=addon.name)
            objects = prepare(
                rendered or [], owner, infos, default_namespace=addon.namespace or "default"
            )
            self._remember(target, addon, input_hash, objects)
        else:
            objects = intent[1]
        live = await read_owned(target.client, owner, {kind_key(o) for o in objects})
        for obj in objects:
            drift = find_drift(
                obj, live.get(identity(obj)), exclusions_for(obj, addon.drift_exclusions)
            )
            if drift:
                log.info("drift in %s (%s): %s", describe(obj), addon.name, ", ".join(drift))
                await apply_object(target.client, obj, force=True)
                target.repaired += 1
                self.counts.written += 1

    def _remember(
        self, target: _Target, addon: AddonSpec, input_hash: str, objects: list[Object]
    ) -> None:
        """Keep what an add-on applies, to compare the live objects with it later."""
        if target.spec.sync_mode is not SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION:
            return
        key = (target.key, addon.name)
        self._intents[key] = (input_hash, objects)
        self._intents.move_to_end(key)
        while len(self._intents) > INTENT_CACHE_SIZE:
            self._intents.popitem(last=False)

    def _judge(
        self,
        target: _Target,
        addon: AddonSpec,
        base: AddonStatus,
        input_hash: str,
        live: list[Object],
    ) -> AddonStatus:
        """Healthy, Waiting or Applied, from the live objects of the add-on."""
        if not addon.health.builtin:
            phase, message = AddonPhase.APPLIED, None
        else:
            verdicts = [builtin_health(o) for o in live]
            bad = next((v for v in verdicts if not v.healthy), None)
            if bad is None:
                phase, message = AddonPhase.HEALTHY, None
            elif bad.status is HealthStatus.DEGRADED:
                phase, message = AddonPhase.FAILED, bad.message
            else:
                phase, message = AddonPhase.WAITING, bad.message
                target.requeue.append(self._timing.waiting)
        return base.model_copy(update={"phase": phase, "hash": input_hash, "message": message})

    async def _dry_run(
        self,
        target: _Target,
        addon: AddonSpec,
        owner: Owner,
        objects: list[Object],
        previous: AddonStatus | None,
        input_hash: str,
    ) -> AddonStatus:
        live = await read_owned(target.client, owner, [*(previous.kinds if previous else [])])
        live_hashes = {
            k: (meta(o).get("annotations") or {}).get(HASH_ANNOTATION) for k, o in live.items()
        }
        wanted = {identity(o): meta(o)["annotations"][HASH_ANNOTATION] for o in objects}
        create = sum(k not in live_hashes for k in wanted)
        update = sum(k in live_hashes and live_hashes[k] != h for k, h in wanted.items())
        delete = sum(k not in wanted for k in live_hashes)
        return AddonStatus(
            name=addon.name,
            phase=AddonPhase.APPLIED,
            hash=input_hash,
            resources=len(objects),
            kinds=previous.kinds if previous else [],
            message=f"dry run: would create {create}, update {update}, delete {delete} objects",
            last_applied_time=last_applied(previous),
        )

    # --- reading the world ---------------------------------------------------------------

    async def _plan(
        self,
        target: _Target,
        addon: AddonSpec,
        sources: dict[str, str],
        previous: AddonStatus | None,
    ) -> tuple[str, list[Object] | None]:
        """The input hash, and the rendered objects unless the hash says nothing changed."""
        # A failed add-on renders again: its hash records inputs that were never applied.
        reuse = previous.hash if previous and previous.phase is not AddonPhase.FAILED else None

        def plan() -> tuple[str, list[Object] | None]:
            digest = self._charts.fetch(addon.name, addon.helm).digest if addon.helm else None
            input_hash = addon_input_hash(addon, target.context, sources, digest)
            if input_hash == reuse:
                return input_hash, None
            rendered = render_addon(
                addon, target.context, manifests_from=sources, charts=self._charts
            )
            self.counts.renders += 1
            return input_hash, rendered.objects

        return await asyncio.get_running_loop().run_in_executor(self._pool, plan)

    async def _manifest_sources(self, target: _Target, addon: AddonSpec) -> dict[str, str]:
        sources: dict[str, str] = {}
        for source in addon.manifests_from:
            namespace = source.namespace or target.namespace
            if namespace != target.namespace:
                where = SourceLocation(addon.name, f"{source.kind.value} {namespace}/{source.name}")
                raise RenderError(where, "manifestsFrom may only read the bundle's namespace")
            obj = await _get_or_none(self._mgmt, "v1", source.kind.value, source.name, namespace)
            sources |= manifest_templates(
                source, obj, addon=addon.name, default_namespace=target.namespace
            )
        return sources

    async def _gpu_capacity(self, target: _Target) -> bool:
        if target.gpu_capacity is None:
            nodes = await target.client.list("v1", "Node")
            target.gpu_capacity = any(allocatable_gpus(n) > 0 for n in nodes.items)
        return target.gpu_capacity

    async def _workload_client(
        self,
        bundle: Object,
        spec: AddonBundleSpec | None,
        cluster_id: ObjectId,
        cluster: Object,
    ) -> KubeClient:
        name, namespace, key = kubeconfig_location(spec, cluster_id, cluster)
        try:
            secret = await self._mgmt.get("v1", "Secret", name, namespace)
        except NotFoundError:
            raise NotFoundError(
                f"waiting for kubeconfig Secret {namespace}/{name}", status=404
            ) from None
        return await self._clients.get(str(cluster_id), kubeconfig_from_secret(secret, key))

    async def _context(
        self, bundle: Object, spec: AddonBundleSpec, cluster: Object
    ) -> TemplateContext:
        namespace = str(meta(bundle)["namespace"])
        resources: dict[str, Object] = {}
        for i, ref in enumerate(spec.template_resource_refs):
            res = ref.resource
            ns = res.namespace or namespace
            where = SourceLocation("*", f"spec.templateResourceRefs[{i}]")
            if ns != namespace:
                raise RenderError(
                    where, "templateResourceRefs may only read the bundle's namespace"
                )
            obj = await _get_or_none(self._mgmt, res.api_version, res.kind, res.name, ns)
            if obj is None and not ref.optional:
                raise RenderError(where, f"{res.kind} {ns}/{res.name} not found")
            if obj is not None:
                resources[ref.identifier] = obj
        spec_refs = cluster.get("spec") or {}
        infrastructure = await self._ref(spec_refs.get("infrastructureRef"), namespace)
        control_plane = await self._ref(spec_refs.get("controlPlaneRef"), namespace)
        return TemplateContext(
            cluster=cluster,
            infrastructure=infrastructure,
            control_plane=control_plane,
            resources=resources,
        )

    async def _ref(self, ref: Mapping[str, Any] | None, namespace: str) -> Object | None:
        """A Cluster's infrastructure or control plane object (v1beta1 or v1beta2 reference)."""
        if not ref or not ref.get("name") or not ref.get("kind"):
            return None
        api_version = ref.get("apiVersion")
        try:
            if not api_version:  # v1beta2: apiGroup only, ask for the preferred version
                group = str(ref.get("apiGroup", ""))
                api_version = f"{group}/{await self._mgmt.preferred_version(group)}"
            return await _get_or_none(
                self._mgmt, str(api_version), str(ref["kind"]), str(ref["name"]), namespace
            )
        except NotFoundError:
            return None


# --- pure helpers --------------------------------------------------------------------------


def _cluster_ref(cluster_id: ObjectId, cluster: Object | None, spec: AddonBundleSpec) -> ObjectRef:
    if cluster is not None:
        api_version = str(cluster["apiVersion"])
    elif spec.cluster_ref is not None:
        api_version = spec.cluster_ref.api_version
    else:
        api_version = f"{cluster_id.gk.group}/v1beta2"
    return ObjectRef(
        api_version=api_version,
        kind=cluster_id.gk.kind,
        name=cluster_id.name,
        namespace=cluster_id.namespace or None,
    )


def _drift(previous: ClusterAddonsStatus | None, target: _Target) -> DriftStatus | None:
    """The drift record after this pass: repairs add to the count."""
    known = previous.drift if previous else None
    if not target.repaired:
        return known
    count = (known.count if known else 0) + target.repaired
    return DriftStatus(count=count, last_detected=target.now)


async def _get_or_none(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None
) -> Object | None:
    try:
        return await client.get(api_version, kind, name, namespace)
    except NotFoundError:
        return None
