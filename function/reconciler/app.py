"""Wiring of the reconciler sidecar: informers, workers, resync, leader election, probes.

`ReconcilerApp` builds every part from `Settings` and a management-cluster client, then runs
until cancelled: it serves ``/livez``, ``/readyz`` (answered by `probes`), ``/healthz`` (the
process answers) and ``/metrics``, waits to become leader (when election is on), starts
informers for AddonBundles, Cluster API Clusters, kubeconfig Secrets (cluster-wide, or one
per namespace of ``--secret-namespaces``), EventSources and EventTriggers (and, on demand, for
whatever kind a bundle's ``clusterRef`` names), runs the trigger controller
(`function.reconciler.triggers`) and the placement controller of AIModelDeployments
(`function.reconciler.deployments`), and runs ``workers`` reconcile loops over one work
queue, with a jittered periodic resync as the safety net. Losing leadership stops it; the
process exits and its replacement stands by.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from function.errors import KubeError
from function.kube.aio import DEFAULT_BURST, DEFAULT_QPS, user_agent
from function.kube.client import KubeClient
from function.kube.clients import WorkloadClients, adapter_from_kubeconfig
from function.model.bundle import API_VERSION, KIND
from function.model.clusters import CLOUD_CLUSTER_KINDS
from function.model.common import ObjectRef
from function.model.deployment import KIND as DEPLOYMENT_KIND
from function.model.events import EVENT_SOURCE_KIND, EVENT_TRIGGER_KIND
from function.model.input import FunctionInput
from function.model.objects import Object, meta
from function.placement.provision import XR_API_VERSION, XR_KIND
from function.reconciler.charts import ChartFetcher
from function.reconciler.collector import YOUNG_THRESHOLD, frozen
from function.reconciler.converge import Converger
from function.reconciler.deployments import DeploymentController
from function.reconciler.events import EventRecorder
from function.reconciler.helm import ChartRenderer
from function.reconciler.inputs import Inputs
from function.reconciler.keys import BundleKey, Key, StatusKey, TargetKey, requeue
from function.reconciler.leader import LeaderElector, LeaseSettings
from function.reconciler.metrics import Metrics
from function.reconciler.probes import ProbeAnswer, WorkLoopWatch, readiness
from function.reconciler.queue import QueueShutDownError, WorkQueue
from function.reconciler.readiness import CAPI_GROUP
from function.reconciler.reconcile import CLUSTER_NAME_LABEL, Reconciler
from function.reconciler.secretscope import SecretScope
from function.reconciler.shards import Shards, ShardSettings, shard_of
from function.reconciler.shardstatus import ShardView
from function.reconciler.store import GroupKind, ObjectId, Store
from function.reconciler.timing import Timing
from function.reconciler.triggers import TriggerController
from function.reconciler.watch import Informer, OnChange

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How the reconciler runs; `function.main` maps command-line flags onto these."""

    workers: int = 16
    """Concurrent reconciles (targets on different clusters proceed in parallel)."""
    resync_period: float = 300.0
    """Seconds between full resyncs (jittered by ±10%): the drift and missed-event net."""
    chart_cache: Path = field(default_factory=lambda: Path("/tmp/aifleet/charts"))
    """Where fetched charts are cached by digest."""
    charts_root: Path = field(default_factory=Path.cwd)
    """Base of relative ``file://`` chart repositories."""
    render_threads: int = 2
    """Threads rendering templates and charts (CPU-bound: about the number of cores)."""
    probe_address: str | None = "0.0.0.0:8081"
    """Serve /livez, /readyz, /healthz and /metrics here (None: not at all)."""
    stall_timeout: float = 300.0
    """Seconds every worker may hold its key while others wait before /livez fails."""
    lease: LeaseSettings | None = None
    """Leader election; None runs as the only replica."""
    timing: Timing = field(default_factory=Timing)
    """How soon targets that are not done are looked at again."""
    kube_qps: float = DEFAULT_QPS
    """Requests per second to each workload cluster, after a burst (0: no client-side limit)."""
    kube_burst: int = DEFAULT_BURST
    """Requests to one workload cluster at once before ``kube_qps`` applies."""
    shards: ShardSettings | None = None
    """Sharding over replicas through Leases; None reconciles every bundle."""
    placement: FunctionInput = field(default_factory=FunctionInput)
    """The Input placement takes its chart sources and GPU cost table from."""
    secret_scope: SecretScope = field(default_factory=SecretScope)
    """Where Secrets are watched and read (``--secret-namespaces``; default: everywhere)."""
    freeze_heap: bool = False
    """Space young garbage collections out while the app runs, freeze the heap out of garbage
    collection once the informers synced, and collect it whole only at quiet moments
    (`function.reconciler.collector`). The command does; a process that embeds the app beside
    other work chooses."""
    gc_young_threshold: int = YOUNG_THRESHOLD
    """Allocations between two young collections under `freeze_heap`
    (``--gc-young-threshold``): wider spends less CPU at a start, and keeps more idle memory
    (free blocks in the allocator's pools)."""


def utc_now() -> str:
    """The clock of status and events: RFC 3339, second precision, as Kubernetes writes."""
    # Interned: statuses keep it per add-on and cluster, and a fleet settles in few seconds.
    return sys.intern(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class ReconcilerApp:
    """The sidecar; ``clock`` stamps statuses and events and tells when a ttl runs out."""

    def __init__(
        self,
        settings: Settings,
        mgmt: KubeClient,
        *,
        clients: WorkloadClients | None = None,
        charts: ChartRenderer | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.settings = settings
        self.mgmt = mgmt
        self.store = Store()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.metrics = Metrics()
        self.clients = clients or WorkloadClients(
            partial(
                adapter_from_kubeconfig,
                qps=settings.kube_qps,
                burst=settings.kube_burst,
                user_agent=user_agent(_identity(settings)),
            )
        )
        self._render_pool = ThreadPoolExecutor(settings.render_threads, "render")
        self._fetch_pool = ThreadPoolExecutor(8, "charts")
        renderer = charts or ChartRenderer(
            ChartFetcher(settings.chart_cache, file_root=settings.charts_root)
        )
        self.converger = Converger(
            mgmt,
            self.clients,
            renderer,
            self.store,
            render_pool=self._render_pool,
            fetch_pool=self._fetch_pool,
            clock=clock,
            timing=settings.timing,
            secret_scope=settings.secret_scope,
        )
        self.reconciler = Reconciler(
            mgmt,
            self.store,
            self.converger,
            self.queue,
            EventRecorder(mgmt, clock=clock, instance=_identity(settings)),
            clock=clock,
            ensure_informer=self._ensure_informer,
            status_delay=settings.timing.status,
        )
        self.triggers = TriggerController(
            mgmt,
            self.store,
            Inputs(mgmt, self.clients, self.store, settings.secret_scope),
            EventRecorder(mgmt, clock=clock, instance=_identity(settings)),
            clock=clock,
        )
        self.deployments = DeploymentController(
            mgmt,
            self.store,
            Inputs(mgmt, self.clients, self.store, settings.secret_scope),
            EventRecorder(mgmt, clock=clock, instance=_identity(settings)),
            clock=clock,
            settings=settings.placement,
        )
        self.triggers.notifier.scope = settings.secret_scope
        self.elector = LeaderElector(mgmt, settings.lease) if settings.lease else None
        self.shards = Shards(mgmt, settings.shards) if settings.shards else None
        if self.shards is not None:
            self.reconciler.owns = self._owns
            self.reconciler.owns_cluster = self._owns_cluster
            shards = self.shards
            self.reconciler.shard_status(
                ShardView(
                    held=lambda: shards.held,
                    of_cluster=self._cluster_shard,
                    of_bundle=lambda bundle: shard_of(bundle, shards.count),
                    count=shards.count,
                )
            )
            self.triggers.owns = self._owns
            self.deployments.owns = self._owns
        self.ready = asyncio.Event()
        self.work_loop = WorkLoopWatch(settings.workers, settings.stall_timeout)
        self._informers: dict[tuple[GroupKind, str | None], Informer] = {}
        """By kind and namespace (None: cluster-wide)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics.watch_state(
            queue_depth=lambda: len(self.queue),
            table=self.reconciler.table,
            counts=self.converger.counts,
            is_leader=lambda: self.elector.is_leader if self.elector else True,
        )

    async def run(self) -> None:
        """Run until cancelled (or until leadership is lost)."""
        runner = await self._serve_probes()
        if self.settings.freeze_heap:
            frozen.begin(self.settings.gc_young_threshold)
        try:
            if self.elector is not None:
                await self.elector.acquire()
            await self._start_informers()
            if self.shards is not None:
                await self.shards.step(self._shards_changed)
                self._spawn(self.shards.run(self._shards_changed))
            if self.settings.freeze_heap:
                frozen.settle()
            self.ready.set()
            for worker in range(self.settings.workers):
                self._spawn(self._worker(worker))
            self.work_loop.running = True
            for _ in range(max(1, self.settings.workers // 4)):
                self._spawn(self.triggers.run_worker())
            self._spawn(self.deployments.run_worker())  # one: decisions see each other's GPUs
            self._spawn(self._resync())
            if self.elector is not None:
                await self.elector.hold()  # returns only by LeadershipLostError
            await asyncio.Event().wait()  # until cancelled
        finally:
            await self._shutdown(runner)

    # --- shards -------------------------------------------------------------------------

    def _owns(self, obj: Object) -> bool:
        """Whether this replica's shards include a bundle's cluster (a bundle without a
        known ``clusterRef`` cluster, and a trigger, go by their own uid)."""
        assert self.shards is not None
        ref = (obj.get("spec") or {}).get("clusterRef") if obj.get("kind") == KIND else None
        cluster = None
        if isinstance(ref, dict) and ref.get("name"):
            gk = GroupKind.of(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            namespace = str(ref.get("namespace") or meta(obj).get("namespace", ""))
            cluster = self.store.get(gk, namespace, str(ref["name"]))
        return self.shards.owns(shard_of(cluster or obj, self.shards.count))

    def _owns_cluster(self, cid: ObjectId) -> bool:
        """Whether this replica's shards include a cluster (one no longer served goes by its
        name, the same on every replica)."""
        assert self.shards is not None
        cluster = self.store.get_id(cid)
        return self.shards.owns(shard_of(cluster, self.shards.count, fallback=str(cid)))

    def _cluster_shard(self, ref: ObjectRef, namespace: str) -> int:
        """The shard of a cluster a status entry names (as `_owns_cluster` finds it)."""
        assert self.shards is not None
        cid = ObjectId(
            GroupKind.of(ref.api_version, ref.kind), ref.namespace or namespace, ref.name
        )
        cluster = self.store.get_id(cid)
        return shard_of(cluster, self.shards.count, fallback=str(cid))

    def _shards_changed(self, gained: frozenset[int], lost: frozenset[int]) -> None:
        """Shards changed hands: look at everything again (what is not ours is skipped)."""
        self.reconciler.resync()
        self.triggers.resync()
        self.deployments.resync()

    # --- informers -----------------------------------------------------------------------

    async def _start_informers(self) -> None:
        capi_version = await self._capi_version()
        triggers = self.triggers
        deployments = self.deployments
        self._watch(
            API_VERSION,
            KIND,
            _both(self.reconciler.on_bundle, triggers.on_bundle, deployments.on_owned),
        )
        self._watch(
            f"{CAPI_GROUP}/{capi_version}",
            "Cluster",
            _both(self.reconciler.on_cluster, triggers.on_cluster, deployments.on_cluster),
        )
        self._watch(XR_API_VERSION, DEPLOYMENT_KIND, deployments.on_deployment)
        self._watch(
            XR_API_VERSION, XR_KIND, _both(self.reconciler.on_cluster, deployments.on_owned)
        )
        for api_version, kind in CLOUD_CLUSTER_KINDS:  # an unserved kind is retried quietly
            self._watch(api_version, kind, self.reconciler.on_cluster)
        self._watch(API_VERSION, EVENT_SOURCE_KIND, triggers.on_source)
        self._watch(API_VERSION, EVENT_TRIGGER_KIND, triggers.on_trigger)
        scope = self.settings.secret_scope
        if scope.cluster_wide:
            log.info("watching kubeconfig Secrets in every namespace (no --secret-namespaces)")
        else:
            listed = ", ".join(sorted(scope.namespaces or ()))
            log.info("reading Secrets only in namespaces %s (--secret-namespaces)", listed)
        for namespace in scope.watched():
            self._watch(
                "v1",
                "Secret",
                self.reconciler.on_secret,
                label_selector=CLUSTER_NAME_LABEL,
                namespace=namespace,
            )
        await asyncio.gather(*(i.synced.wait() for i in self._informers.values()))

    def _ensure_informer(self, api_version: str, kind: str) -> None:
        if (GroupKind.of(api_version, kind), None) not in self._informers:
            self._watch(api_version, kind, self.reconciler.on_cluster)

    def _watch(
        self,
        api_version: str,
        kind: str,
        on_change: OnChange,
        *,
        label_selector: str | None = None,
        namespace: str | None = None,
    ) -> None:
        informer = Informer(
            self.mgmt,
            self.store,
            api_version,
            kind,
            on_change,
            label_selector=label_selector,
            namespace=namespace,
        )
        self._informers[(GroupKind(informer.gk.group, kind), namespace)] = informer
        self._spawn(informer.run())

    async def _capi_version(self) -> str:
        """Cluster API's preferred version (v1beta2 from CAPI 1.11), v1beta2 if not served."""
        try:
            return await self.mgmt.preferred_version(CAPI_GROUP)
        except KubeError as exc:  # not served yet: its informer keeps retrying
            log.info("Cluster API is not served (%s); watching v1beta2 when it is", exc)
            return "v1beta2"

    # --- work ----------------------------------------------------------------------------

    async def _worker(self, worker: int) -> None:
        try:
            await self._work(worker)
        finally:
            self.work_loop.exited += 1

    async def _work(self, worker: int) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDownError:
                return
            self.work_loop.took(worker)
            kind = _key_kind(key)
            started = time.perf_counter()
            try:
                result = await self.reconciler.reconcile(key)
            except Exception:
                log.exception("reconcile of %s failed", key)
                self.metrics.reconciles.labels(kind, "error").inc()
                self.queue.add_rate_limited(key)
            else:
                outcome = "retry" if result.retry else "success"
                self.metrics.reconciles.labels(kind, outcome).inc()
                requeue(self.queue, key, result)
            finally:
                self.metrics.duration.labels(kind).observe(time.perf_counter() - started)
                self.queue.done(key)
                self.work_loop.finished(worker)

    async def _resync(self) -> None:
        while True:
            period = self.settings.resync_period
            await asyncio.sleep(period * random.uniform(0.9, 1.1))
            self.reconciler.resync()
            self.triggers.resync()
            self.deployments.resync()

    # --- lifecycle -----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self, runner: web.AppRunner | None) -> None:
        if self.settings.freeze_heap:
            frozen.thaw()  # what this app held is collected as any garbage again
        self.queue.shutdown()
        await self.triggers.close(flush=self.elector is None or self.elector.is_leader)
        await self.converger.drift.close()
        await self.deployments.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.resign()
        await self.clients.close()
        self._render_pool.shutdown(wait=False, cancel_futures=True)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
        if runner is not None:
            await runner.cleanup()

    async def _serve_probes(self) -> web.AppRunner | None:
        address = self.settings.probe_address
        if address is None:
            return None
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, _, port = address.rpartition(":")
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        return runner

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _livez(self, _: web.Request) -> web.Response:
        return _respond(self.work_loop.liveness(len(self.queue)))

    async def _readyz(self, _: web.Request) -> web.Response:
        answer = readiness(
            electing=self.elector is not None,
            leader=self.elector is not None and self.elector.is_leader,
            synced=self.ready.is_set(),
        )
        return _respond(answer)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _both(*controllers: OnChange) -> OnChange:
    """One informer feeding several controllers."""

    def on_change(obj: dict[str, Any]) -> None:
        for controller in controllers:
            controller(obj)

    return on_change


def _respond(answer: ProbeAnswer) -> web.Response:
    return web.Response(status=answer.status, text=answer.text)


def _key_kind(key: Key) -> str:
    if isinstance(key, BundleKey):
        return "bundle"
    if isinstance(key, TargetKey):
        return "target"
    assert isinstance(key, StatusKey)
    return "status"


def _identity(settings: Settings) -> str:
    if settings.lease:
        return settings.lease.identity
    return settings.shards.identity if settings.shards else ""
