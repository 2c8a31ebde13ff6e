"""The AIModelDeployment controller: place each model on the fleet and keep it served there.

One key per deployment, served by one worker so that decisions are taken one at a time and
each sees the GPUs the previous ones reserved. `DeploymentController.reconcile` reads the
deployment and the Cluster API Clusters of its namespace (never another namespace's), asks
`FleetWatches` for their Nodes and Pods, and once their capacity is known decides with the pure
`function.placement.decide.place`, given the placements it made before (stability) and the GPUs
every other deployment of the namespace reserves or holds (`function.placement.ledger`).

What it decides becomes one AddonBundle per chosen cluster (`function.placement.delivery`),
which the bundle reconciler converges like any other: the model add-on gated on allocatable
GPUs, health gates. The serving stack comes in one bundle per cluster and runtime shared by the
models placed there (`function.reconciler.servingstack`), when no other bundle brings it. Nothing
fits and ``onNoCapacity: Provision``: an AIInferenceCluster sized for the model is composed
(`function.placement.provision`) and the model lands on it once its GPUs are allocatable.
``ttl`` or ``idleAfter`` running out withdraws the bundles and, with ``reclaimProvisioned``,
deletes the provisioned cluster when no other placement uses it; so does deleting the
deployment. A deployment giving GPUs back (deleted, expired, fewer placed) has the others of
its namespace that wait for capacity decided again at once. Status
(`function.reconciler.deploymentstatus`) carries the phase, the clusters,
the endpoint, the GPUs held and every candidate's reason; a bad spec stops the deployment with
a condition, a Warning event and a log line, and nothing is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from function.errors import KubeError, NotFoundError, SpecError
from function.kube.client import KubeClient
from function.model import bundle as bundle_model
from function.model.deployment import (
    AIModelDeploymentSpec,
    AIModelDeploymentStatus,
    DeploymentPhase,
    OnNoCapacity,
    parse_deployment_spec,
)
from function.model.input import FunctionInput
from function.model.objects import Object, meta
from function.placement.capacity import (
    ClusterCapacity,
    FleetCapacity,
    gpu_requests_by_node,
)
from function.placement.decide import Decision, place
from function.placement.delivery import DEPLOYMENT_LABEL
from function.placement.ledger import Placed, assignments_of, ledger
from function.reconciler.deploymentstatus import (
    API_VERSION,
    KIND,
    announcements,
    expired_status,
    expiry,
    live_status,
    parse_time,
    read_status,
    rfc3339,
    stopped_status,
)
from function.reconciler.events import EventRecorder
from function.reconciler.fleetwatch import FleetWatches
from function.reconciler.inputs import Inputs
from function.reconciler.keys import DONE, Result, TriggerKey, work
from function.reconciler.placementbundles import PlacementBundles
from function.reconciler.provisioning import CAPI_CLUSTER, FIELD_MANAGER, Provisioner
from function.reconciler.queue import WorkQueue
from function.reconciler.readiness import cluster_readiness
from function.reconciler.servingstack import STACK_LABEL
from function.reconciler.store import GroupKind, ObjectId, Store
from function.reconciler.targets import BUNDLE
from function.reconciler.trafficwatch import TrafficWatches

log = logging.getLogger(__name__)

DEPLOYMENT = GroupKind("aifleet.io", KIND)
DeploymentKey = TriggerKey  # a namespaced name, as a trigger's key
_STACKS = ""  # the key name, never a deployment's, that syncs a namespace's serving stacks


@dataclass
class _Memory:
    written: Object | None = None
    """The status last written (the store may not have seen it yet)."""


class DeploymentController:
    """Reconciles AIModelDeployments; `run_worker` serves its queue."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        inputs: Inputs,
        events: EventRecorder,
        *,
        clock: Callable[[], str],
        settings: FunctionInput | None = None,
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._inputs = inputs
        self._events = events
        self._clock = clock
        self._settings = settings or FunctionInput()
        self._provisioner = Provisioner(mgmt, store, events, self._settings.gpu_cost_per_hour)
        self._bundles = PlacementBundles(
            mgmt, store, self._settings.catalog, FIELD_MANAGER, lambda b: self.owns(b)
        )
        self.queue: WorkQueue[DeploymentKey] = WorkQueue()
        self.fleet = FleetWatches(self._inputs.client_of, self._capacity_changed)
        self.traffic = TrafficWatches(self._inputs.client_of, self._traffic_changed)
        self._memory: dict[DeploymentKey, _Memory] = {}
        self.owns: Callable[[Object], bool] = lambda deployment: True

    # --- mapping changes to keys ---------------------------------------------------------

    def on_deployment(self, obj: Object) -> None:
        """A deployment changed."""
        m = meta(obj)
        self.queue.add(DeploymentKey(str(m.get("namespace", "")), str(m["name"])))

    def on_owned(self, obj: Object) -> None:
        """A bundle or AIInferenceCluster changed: the deployment it serves looks again. A
        placement or serving-stack bundle changed, or another that may bring a stack: the
        namespace's serving stacks are synced (`_STACKS`); a serving stack's change is looked
        at by the deployments on its cluster."""
        m = meta(obj)
        labels = m.get("labels") or {}
        namespace = str(m.get("namespace", ""))
        bundle = obj.get("kind") == bundle_model.KIND
        gone = bundle and self._store.get(BUNDLE, namespace, str(m.get("name"))) is None
        if bundle and STACK_LABEL in labels:
            if gone:
                self._bundles.stacks.forget(namespace, str(m.get("name")))
            self.queue.add(DeploymentKey(namespace, _STACKS))
            ref = (obj.get("spec") or {}).get("clusterRef") or {}
            for other in self._store.list(BUNDLE, namespace):
                served = (meta(other).get("labels") or {}).get(DEPLOYMENT_LABEL)
                if served and ((other.get("spec") or {}).get("clusterRef") or {}) == ref:
                    self.queue.add(DeploymentKey(namespace, str(served)))
            return
        name = labels.get(DEPLOYMENT_LABEL)
        if not name:
            if bundle and self._bundles.stacks.bringers.changed(obj, gone=gone):
                self.queue.add(DeploymentKey(namespace, _STACKS))
            return
        if bundle:
            if gone:
                self._bundles.gone(DeploymentKey(namespace, str(name)), str(m.get("name")))
            self.queue.add(DeploymentKey(namespace, _STACKS))
        self.queue.add(DeploymentKey(namespace, str(name)))

    def on_cluster(self, obj: Object) -> None:
        """A cluster changed: every deployment of its namespace may place there, or move; its
        labels may have brought it into a bundle's ``clusterSelector`` or out of one, which
        decides whether it needs a serving stack of its own (`_STACKS`)."""
        namespace = str(meta(obj).get("namespace", ""))
        if self._bundles.stacks.relabelled(obj):
            self.queue.add(DeploymentKey(namespace, _STACKS))
        self._namespace_changed(namespace)

    def _namespace_changed(self, namespace: str) -> None:
        for deployment in self._store.list(DEPLOYMENT, namespace):
            self.on_deployment(deployment)

    def _capacity_changed(self, cluster: ObjectId) -> None:
        self._namespace_changed(cluster.namespace)

    def _traffic_changed(self, owner: str) -> None:
        namespace, name = owner.split("/", 1)
        self.queue.add(DeploymentKey(namespace, name))

    def _freed(self, key: DeploymentKey) -> None:
        """``key`` gave GPUs back (deleted, expired, fewer placed): the other deployments of
        its namespace that wait for capacity look again now, not at the next pod change."""
        for okey, _ in self._waiting(key.namespace):
            if okey != key:
                log.info("AIModelDeployment %s: GPUs freed by %s, looking again", okey, key)
                self.queue.add(okey)

    def _waiting(self, namespace: str) -> list[tuple[DeploymentKey, Object]]:
        """The deployments of the namespace with fewer replicas placed than they want (neither
        going nor expired)."""
        out = []
        for other in self._store.list(DEPLOYMENT, namespace):
            okey = DeploymentKey(namespace, str(meta(other)["name"]))
            memory = self._memory.get(okey)
            status = read_status((memory.written if memory else None) or other.get("status"))
            if meta(other).get("deletionTimestamp") or (
                status is not None and status.phase is DeploymentPhase.EXPIRED
            ):
                continue
            wanted = (other.get("spec") or {}).get("replicas") or 1
            if (sum(p.replicas for p in status.placements) if status else 0) < int(wanted):
                out.append((okey, other))
        return out

    def resync(self) -> None:
        """Queue every deployment."""
        for deployment in self._store.list(DEPLOYMENT):
            self.on_deployment(deployment)

    # --- work ----------------------------------------------------------------------------

    async def run_worker(self) -> None:
        """Reconcile keys until the queue shuts down."""
        await work(self.queue, self.reconcile, "AIModelDeployment")

    async def close(self) -> None:
        """Stop the queue and every watch."""
        self.queue.shutdown()
        await self.fleet.close()
        await self.traffic.close()

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: DeploymentKey) -> Result:
        """Converge one deployment (or, for `_STACKS`, the namespace's serving stacks)."""
        if key.name == _STACKS:
            await self._sync_stacks(key.namespace)
            return DONE
        obj = self._store.get(DEPLOYMENT, key.namespace, key.name)
        if obj is not None and not self.owns(obj):
            return DONE
        if obj is None or meta(obj).get("deletionTimestamp"):
            return await self._gone(key)
        memory = self._memory.setdefault(key, _Memory())
        previous = read_status(memory.written or obj.get("status"))
        try:
            spec = parse_deployment_spec(obj.get("spec"))
        except SpecError as exc:
            return await self._stopped(key, obj, previous, "InvalidSpec", str(exc))
        now = parse_time(self._clock())
        clusters = self._clusters(key.namespace)
        ends = self._ends(key, obj, spec, previous, clusters)
        if ends is not None and now >= ends[0]:
            return await self._expire(key, obj, spec, previous, ends)
        self.fleet.want(str(key), (ObjectId.of(c) for c in clusters if _reachable(c)))
        current = assignments_of(previous)
        seen = self._capacity(key, clusters, {a.cluster for a in current})
        if seen is None:  # a cluster it runs on is not listed yet: decide nothing
            return DONE
        fleet, known = seen
        if not known and not current:  # first placed once every reachable cluster is read:
            return DONE  # it would stay where it lands; listed, the watches queue it again
        costs = self._settings.gpu_cost_per_hour
        decision = place(str(key), spec, fleet, current=current, costs=costs)
        provisioned = previous.provisioned if previous else None
        try:
            # Provision only when every reachable cluster's capacity has been read: one not
            # listed yet may well hold the model.
            short = not decision.complete and spec.on_no_capacity is OnNoCapacity.PROVISION
            if short and (known or provisioned):
                provisioned = await self._provisioner.provision(
                    key, obj, spec, decision, provisioned
                )
        except SpecError as exc:
            return await self._stopped(key, obj, previous, "ProvisionFailed", str(exc))
        if provisioned and spec.reclaim_provisioned:
            provisioned = await self._reclaim_unneeded(key, obj, decision, provisioned)
        by_name = {f"{meta(c)['namespace']}/{meta(c)['name']}": c for c in clusters}
        bundles = await self._bundles.deliver(key, _owner(obj), spec, decision, by_name)
        await self._sync_stacks(key.namespace)
        stacks = self._bundles.stacks_of(key.namespace, bundles, spec.model.runtime)
        waiting = None
        if provisioned and not decision.complete:
            waiting = self._provisioner.wait(spec, provisioned, decision, now)
        status = live_status(
            obj, spec, decision, bundles, previous, provisioned=provisioned, now=self._clock(),
            expires_at=rfc3339(ends[0]) if ends else None, waiting=waiting, stacks=stacks,
        )  # fmt: skip
        await self._announce(obj, previous, status)
        result = await self._write_status(key, obj, status)
        wake = [ends[0]] if ends else []
        if waiting is not None and not waiting.timed_out:
            wake.append(waiting.deadline)  # to say so when the cluster is not ready by then
        if wake and not result.retry:
            return Result(requeue_after=max((min(wake) - now).total_seconds(), 0.05))
        return result

    def _ends(
        self,
        key: DeploymentKey,
        obj: Object,
        spec: AIModelDeploymentSpec,
        previous: AIModelDeploymentStatus | None,
        clusters: list[Object],
    ) -> tuple[datetime, str] | None:
        """When the deployment expires: ``idleAfter`` counts from the traffic its clusters
        report too, and is not run out while one of them has not been listed yet."""
        placed = {p.cluster for p in previous.placements} if previous else set()
        ids = [ObjectId.of(c) for c in clusters if _name(c) in placed and _reachable(c)]
        self.traffic.want(str(key), ids if spec.idle_after else ())
        if not spec.idle_after:
            return expiry(obj, spec)
        signal, complete = self.traffic.last_traffic(ids, spec.model.name)
        if not complete:  # until then, only the ttl
            return expiry(obj, spec.model_copy(update={"idle_after": None}))
        return expiry(obj, spec, signal)

    def _clusters(self, namespace: str) -> list[Object]:
        return sorted(
            (c for c in self._store.list(CAPI_CLUSTER, namespace)),
            key=lambda c: str(meta(c)["name"]),
        )

    def _capacity(
        self, key: DeploymentKey, clusters: list[Object], placed_on: set[str]
    ) -> tuple[FleetCapacity, bool] | None:
        """The namespace's fleet as placement sees it and whether the capacity of every
        reachable cluster is known; None while a cluster the deployment runs on has not been
        listed (a restart must not move it)."""
        found: list[ClusterCapacity] = []
        known = True
        for cluster in clusters:
            m = meta(cluster)
            name = f"{m['namespace']}/{m['name']}"
            labels = dict(m.get("labels") or {})
            readiness = cluster_readiness(cluster)
            deleting = bool(m.get("deletionTimestamp"))
            # A cluster it already runs on stays eligible through a passing hiccup; only its
            # loss (deletion) moves the replicas.
            ready = not deleting and (
                name in placed_on or (readiness.skip is None and readiness.workers_available)
            )
            capacity = self.fleet.capacity(ObjectId.of(cluster), name, labels, ready=ready)
            if capacity is None:
                if name in placed_on and not deleting:
                    return None
                capacity = ClusterCapacity(name, labels, (), ready=False)
                if not deleting and _reachable(cluster):
                    error = self.fleet.error(ObjectId.of(cluster))
                    if error:
                        why = f"its Nodes cannot be watched: {error}"
                    else:
                        known, why = False, "its Nodes and Pods are not listed yet"
                    capacity = replace(capacity, unready_reason=why)
            found.append(capacity)
        reservations, holdings = ledger(self._placed(key.namespace, clusters))
        return FleetCapacity(tuple(found), reservations, holdings), known

    def _placed(self, namespace: str, clusters: list[Object]) -> list[Placed]:
        """Every deployment of the namespace with its placements and its pods' requests."""
        by_name = {f"{meta(c)['namespace']}/{meta(c)['name']}": c for c in clusters}
        out = []
        for other in self._store.list(DEPLOYMENT, namespace):
            if meta(other).get("deletionTimestamp"):
                continue  # going: its GPUs are free for the others already
            okey = DeploymentKey(namespace, str(meta(other)["name"]))
            written = self._memory.get(okey)
            status = read_status((written.written if written else None) or other.get("status"))
            if status is None or not status.placements:
                continue
            model = str(((other.get("spec") or {}).get("model") or {}).get("name", ""))
            requested: dict[str, Mapping[str, int]] = {}
            for p in status.placements:
                cluster = by_name.get(p.cluster)
                if cluster is not None:
                    pods = self.fleet.model_pods(ObjectId.of(cluster), model)
                    requested[p.cluster] = gpu_requests_by_node(pods)
            out.append(Placed(str(okey), status, requested))
        return out

    async def _sync_stacks(self, namespace: str) -> None:
        waiting = self._waiting(namespace)
        runtimes = {str(((o.get("spec") or {}).get("model") or {}).get("runtime") or "vllm")
                    for _, o in waiting}  # fmt: skip
        await self._bundles.sync_stacks(namespace, runtimes)

    async def _reclaim(self, key: DeploymentKey, provisioned: str) -> bool:
        """Delete the cluster provisioned for the deployment unless another one uses it."""
        return await self._provisioner.reclaim(key, provisioned, self._placed(key.namespace, []))

    async def _reclaim_unneeded(
        self, key: DeploymentKey, obj: Object, decision: Decision, provisioned: str
    ) -> str | None:
        """Reclaim the provisioned cluster once every replica is placed elsewhere; what the
        status then says was provisioned."""
        if self._provisioner.needed(provisioned, decision):
            return provisioned
        if not await self._reclaim(key, provisioned):
            return provisioned
        await self._events.record(
            obj,
            reason="Reclaimed",
            message=f"AIInferenceCluster {provisioned} reclaimed: no placement needs it "
            f"({decision.message})",
        )
        return None

    async def _expire(
        self,
        key: DeploymentKey,
        obj: Object,
        spec: AIModelDeploymentSpec,
        previous: AIModelDeploymentStatus | None,
        ends: tuple[datetime, str],
    ) -> Result:
        """The ttl or idleAfter ran out: withdraw the model, reclaim what was provisioned."""
        self.fleet.want(str(key), ())
        self.traffic.want(str(key), ())
        await self._bundles.withdraw(key)
        await self._sync_stacks(key.namespace)
        if previous is not None and previous.phase is DeploymentPhase.EXPIRED:
            return DONE  # said and done: what it reclaimed stays in its message
        provisioned = previous.provisioned if previous else None
        reclaimed = False
        if provisioned and spec.reclaim_provisioned:
            reclaimed = await self._reclaim(key, provisioned)
        status = expired_status(obj, previous, ends, reclaimed=reclaimed, now=self._clock())
        await self._announce(obj, previous, status)
        return await self._write_status(key, obj, status)

    async def _gone(self, key: DeploymentKey) -> Result:
        """The deployment is gone or going: withdraw its bundles and reclaim its cluster."""
        self.fleet.want(str(key), ())
        self.traffic.want(str(key), ())
        self._memory.pop(key, None)
        await self._bundles.withdraw(key)
        await self._sync_stacks(key.namespace)
        for provisioned in self._provisioner.reclaimable(key):
            await self._reclaim(key, provisioned)
        self._freed(key)
        return DONE

    async def _stopped(
        self,
        key: DeploymentKey,
        obj: Object,
        previous: AIModelDeploymentStatus | None,
        reason: str,
        message: str,
    ) -> Result:
        status = stopped_status(obj, previous, reason, message, now=self._clock())
        if status not in (obj.get("status"), self._memory[key].written):
            log.warning("AIModelDeployment %s: %s: %s", key, reason, message)
            await self._events.record(obj, reason=reason, message=message, warning=True)
        return await self._write_status(key, obj, status)

    async def _announce(
        self, obj: Object, previous: AIModelDeploymentStatus | None, status: Object
    ) -> None:
        """The Events (and log lines of the Warnings) of a status change."""
        for reason, text, warning in announcements(previous, status):
            if warning:
                log.warning("AIModelDeployment %s/%s: %s", meta(obj)["namespace"],
                            meta(obj)["name"], text)  # fmt: skip
            await self._events.record(obj, reason=reason, message=text, warning=warning)

    async def _write_status(self, key: DeploymentKey, obj: Object, status: Object) -> Result:
        memory = self._memory[key]
        if status in (obj.get("status"), memory.written):
            return DONE
        # A merge patch: what the new status no longer says (provisioned, endpoint) is nulled.
        dropped = {*(obj.get("status") or {}), *(memory.written or {})} - set(status)
        patch = {**dict.fromkeys(sorted(dropped)), **status}
        try:
            await self._mgmt.patch_status(API_VERSION, KIND, key.name, key.namespace, patch)
        except NotFoundError:
            return DONE
        except KubeError as exc:
            return Result(retry=True, retry_after=exc.retry_after or 0.0)
        before = read_status(obj.get("status") if memory.written is None else memory.written)
        memory.written = status
        if before is not None and _reserved(read_status(status)) < _reserved(before):
            self._freed(key)
        return DONE


def _reserved(status: AIModelDeploymentStatus | None) -> int:
    """GPUs a status's placements hold or are promised."""
    if status is None:
        return 0
    return sum(p.replicas * p.gpus_per_replica for p in status.placements)


def _owner(obj: Object) -> Object:
    m = meta(obj)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": m["name"],
        "uid": m.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _name(cluster: Object) -> str:
    return f"{meta(cluster)['namespace']}/{meta(cluster)['name']}"


def _reachable(cluster: Object) -> bool:
    """Whether the cluster's API can be watched: its control plane is up, it is not going."""
    readiness = cluster_readiness(cluster)
    return readiness.skip is None and readiness.control_plane_initialized
