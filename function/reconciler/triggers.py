"""The EventTrigger controller: watch source clusters, evaluate rules, keep bundles in step.

One key per trigger. `TriggerController.reconcile` reads the trigger, its EventSource and the
Cluster API Clusters of its namespace that ``sourceClusterSelector`` picks (never another
namespace's), asks `EventWatches` for the selected kinds on each of them, and for every
cluster whose watches are synced evaluates the rule (`function.lua.events`) on each object
that changed since it last looked (verdicts are kept per resourceVersion), then the aggregated
selection. The matching set follows `function.reconciler.triggerplan`: only an evaluated
non-match or a deletion removes an object; a cluster whose watches are not synced (a restart,
an outage) keeps its set and its bundles exactly as they are.

A change on one source cluster (its watched objects, or a bundle made for it) touches that
cluster only: the reconcile it causes evaluates and keeps the bundles of that cluster, and
reuses what it keeps of the others (`function.reconciler.triggermemory`). A changed rule,
trigger, EventSource or selection of clusters, a cluster event, a resync or a failure looks at
every source cluster again.

What matches becomes AddonBundles (`function.reconciler.instances`), which the bundle
reconciler converges like any other: this controller writes bundles and the trigger's status,
and nothing in workload clusters. Bundles are written at once; the status every reconcile
composes is written later (`function.reconciler.triggerwrite`), once the changes of a burst
(events, the phases its bundles go through) have quietened: one write for many reconciles.
Events are decided against the status last composed, so none is lost or repeated for a write
not made yet. A bad trigger, EventSource or rule stops the trigger before any bundle is
touched, with a ``Ready=False`` condition naming the cause, a Warning event and a log line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from functools import partial

from function.errors import LuaError, NotFoundError, SpecError
from function.kube.client import KubeClient
from function.lua.events import EventRules, compile_event_source
from function.model.bundle import API_VERSION as BUNDLE_API_VERSION
from function.model.bundle import KIND as BUNDLE_KIND
from function.model.events import (
    EVENT_SOURCE_KIND,
    EVENT_TRIGGER_KIND,
    EventTriggerSpec,
    EventTriggerStatus,
    parse_event_source_spec,
    parse_event_trigger_spec,
)
from function.model.notifications import NotificationStatus
from function.model.objects import Object, describe, meta
from function.reconciler.events import EventRecorder
from function.reconciler.eventwatch import EventWatches, WatchKey
from function.reconciler.inputs import Inputs
from function.reconciler.instances import (
    FIELD_MANAGER,
    SOURCE_CLUSTER_LABEL,
    TRIGGER_LABEL,
    desired_bundles,
    owned_by,
    same_bundle,
)
from function.reconciler.keys import DONE, Result, TriggerKey, work
from function.reconciler.notify import Notice, Notifier
from function.reconciler.queue import WorkQueue
from function.reconciler.store import GroupKind, ObjectId, Store
from function.reconciler.targets import BUNDLE, CAPI_CLUSTER
from function.reconciler.triggermemory import StoppedError, TriggerMemory, evaluate
from function.reconciler.triggerplan import (
    ResourceKey,
    from_status,
)
from function.reconciler.triggerstatus import (
    ClusterOutcome,
    bundles_by_source,
    cluster_entries,
    compose,
    deliveries,
    describe_match,
    generation_of,
    phase_notices,
    ready_condition,
)
from function.reconciler.triggerwrite import StatusOf, StatusWrites, TriggerWork, identity

log = logging.getLogger(__name__)

GROUP = "addons.aifleet.io"
TRIGGER_API_VERSION = f"{GROUP}/v1alpha1"
TRIGGER = GroupKind(GROUP, EVENT_TRIGGER_KIND)
SOURCE = GroupKind(GROUP, EVENT_SOURCE_KIND)


class TriggerController:
    """Reconciles EventTriggers; `run_worker` serves its queue."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        inputs: Inputs,
        events: EventRecorder,
        *,
        clock: Callable[[], str],
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._inputs = inputs
        self._events = events
        self._clock = clock
        self.queue: WorkQueue[TriggerWork] = WorkQueue()
        self.watches = EventWatches(self._inputs.client_of, self._watched_changed)
        self.notifier = Notifier(mgmt, clock=clock)
        self._memory: dict[TriggerKey, TriggerMemory] = {}
        self.owns: Callable[[Object], bool] = lambda trigger: True
        """Whether this replica reconciles a trigger (`function.reconciler.shards`)."""
        self.status = StatusWrites(
            mgmt, store, self.queue, self._memory, lambda trigger: self.owns(trigger)
        )

    # --- mapping changes to keys ---------------------------------------------------------

    def on_trigger(self, obj: Object) -> None:
        """A trigger changed (not when only its status did, to the status written last)."""
        m = meta(obj)
        if not self.status.echoes(obj):
            self.queue.add(TriggerKey(str(m.get("namespace", "")), str(m["name"])))

    def on_source(self, obj: Object) -> None:
        """An EventSource changed: its triggers look again."""
        m = meta(obj)
        namespace = str(m.get("namespace", ""))
        for trigger in self._store.list(TRIGGER, namespace):
            if (trigger.get("spec") or {}).get("eventSourceName") == m["name"]:
                self._look_at_everything(trigger)

    def on_bundle(self, obj: Object) -> None:
        """A bundle changed: the trigger that made it reports its phases."""
        labels = meta(obj).get("labels") or {}
        trigger = labels.get(TRIGGER_LABEL)
        if trigger:
            key = TriggerKey(str(meta(obj).get("namespace", "")), str(trigger))
            self._touch(key, str(labels.get(SOURCE_CLUSTER_LABEL, "")))

    def on_cluster(self, obj: Object) -> None:
        """A cluster changed: the triggers of its namespace may now select it, or not."""
        namespace = str(meta(obj).get("namespace", ""))
        for trigger in self._store.list(TRIGGER, namespace):
            self._look_at_everything(trigger)

    def resync(self) -> None:
        """Queue every trigger, to look at every source cluster again."""
        for trigger in self._store.list(TRIGGER):
            self._look_at_everything(trigger)

    def _look_at_everything(self, trigger: Object) -> None:
        """The next reconcile of ``trigger`` evaluates every source cluster."""
        m = meta(trigger)
        key = TriggerKey(str(m.get("namespace", "")), str(m["name"]))
        memory = self._memory.get(key)
        if memory is not None:
            memory.scope = None
        self.queue.add(key)

    def _watched_changed(self, cluster: ObjectId) -> None:
        for owner in self.watches.owners(cluster):
            namespace, _, name = owner.partition("/")
            self._touch(TriggerKey(namespace, name), cluster.name)

    def _touch(self, key: TriggerKey, cluster: str) -> None:
        """Something of source cluster ``cluster`` changed for the trigger ``key``."""
        memory = self._memory.get(key)
        if memory is not None:
            memory.touched.add(cluster)
        self.queue.add(key)

    def memory_of(self, key: TriggerKey) -> TriggerMemory | None:
        """What is kept of a trigger (its reconciles and evaluations counted among it)."""
        return self._memory.get(key)

    # --- work ----------------------------------------------------------------------------

    async def run_worker(self) -> None:
        """Reconcile keys until the queue shuts down."""
        await work(self.queue, self._serve, "EventTrigger")

    async def _serve(self, key: TriggerWork) -> Result:
        if isinstance(key, StatusOf):
            return await self.status.write(key.trigger)
        return await self.reconcile(key)

    async def close(self, *, flush: bool = True) -> None:
        """Stop the queue and every watch; with ``flush``, first write the statuses composed
        and not written yet."""
        self.queue.shutdown()
        if flush:
            await self.status.write_owed()
        await self.watches.close()
        await self.notifier.close()

    # --- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: TriggerKey) -> Result:
        """Converge one trigger."""
        trigger = self._store.get(TRIGGER, key.namespace, key.name)
        if trigger is not None and not self.owns(trigger):
            return DONE  # another replica's shard
        if trigger is None or meta(trigger).get("deletionTimestamp"):
            return await self._gone(key)
        memory = self._memory.setdefault(key, TriggerMemory())
        memory.reconciles += 1
        memory.seen = identity(trigger)
        previous = memory.status_of(trigger.get("status"))
        if not memory.matching and previous is not None:
            memory.matching = {
                c.cluster_ref.name: from_status(c.matching_resources) for c in previous.clusters
            }
        try:
            spec, rules, collect = self._read(key, trigger, memory)
            clusters = self._source_clusters(key, spec)
        except StoppedError as stop:
            memory.scope = None
            return await self._stopped(key, trigger, self._basis(key, trigger), stop)
        scope = (
            meta(trigger).get("uid"),
            memory.rules,
            tuple((str(meta(c)["name"]), c.get("apiVersion"), c.get("kind")) for c in clusters),
        )
        if scope != memory.watching:
            self.watches.want(
                str(key),
                {WatchKey(ObjectId.of(c), g, v, k) for c in clusters for g, v, k in rules.kinds()},
            )
            memory.watching = scope
        only = memory.touched if scope == memory.scope else None
        memory.touched, memory.scope = set(), None
        try:
            try:
                outcomes, objects = evaluate(memory, rules, clusters, only, self.watches.view)
            except StoppedError as stop:  # looked at again in full once it can be
                memory.touched |= only or set()
                return await self._stopped(key, trigger, self._basis(key, trigger), stop)
            bundles = await self._keep_bundles(
                key, trigger, spec, outcomes, objects, collect, memory.confirmed, only
            )
            basis = self._basis(key, trigger)
            await self._record_matches(trigger, spec, basis, outcomes, only)
            result = await self._compose_status(key, trigger, spec, outcomes, bundles, basis)
        except BaseException:
            memory.touched |= only or set()
            raise
        memory.scope = scope
        return result

    def _read(
        self, key: TriggerKey, trigger: Object, memory: TriggerMemory
    ) -> tuple[EventTriggerSpec, EventRules, bool]:
        try:
            spec = parse_event_trigger_spec(trigger.get("spec"))
        except SpecError as exc:
            raise StoppedError("InvalidSpec", str(exc)) from None
        source = self._store.get(SOURCE, key.namespace, spec.event_source_name)
        where = f"EventSource {key.namespace}/{spec.event_source_name}"
        if source is None:
            raise StoppedError("EventSourceNotFound", f"{where} not found")
        try:
            source_spec = parse_event_source_spec(source.get("spec"))
        except SpecError as exc:
            raise StoppedError("InvalidEventSource", f"{where}: {exc}") from None
        try:
            rules = compile_event_source(source_spec, name=where)
        except LuaError as exc:
            raise StoppedError("InvalidRule", str(exc)) from None
        version = (
            str(meta(source).get("uid", "")),
            int(meta(source).get("generation") or 0),
            int(meta(trigger).get("generation") or 0),
        )
        if memory.rules != version:
            memory.rules = version
            memory.verdicts.clear()  # a changed rule judges every object again
        return spec, rules, source_spec.collect_resources

    def _source_clusters(self, key: TriggerKey, spec: EventTriggerSpec) -> list[Object]:
        selector = spec.source_cluster_selector
        clusters = [
            c
            for c in self._store.list(CAPI_CLUSTER, key.namespace)
            if selector.matches(meta(c).get("labels") or {})
            and not meta(c).get("deletionTimestamp")
        ]
        return sorted(clusters, key=lambda c: str(meta(c)["name"]))

    async def _keep_bundles(
        self,
        key: TriggerKey,
        trigger: Object,
        spec: EventTriggerSpec,
        outcomes: dict[str, ClusterOutcome | None],
        objects: dict[str, dict[ResourceKey, Object]],
        collect: bool,
        confirmed: dict[str, tuple[str, Object]],
        only: set[str] | None,
    ) -> list[Object]:
        """Apply the bundles wanted, delete those no longer wanted; the trigger's bundles.
        With ``only``, just the bundles of those source clusters are looked at."""
        wanted: dict[str, Object] = {}
        for name, outcome in outcomes.items():
            if outcome is not None and (only is None or name in only):
                wanted |= desired_bundles(
                    trigger, spec, outcome.cluster, outcome.matching, objects[name], collect=collect
                )
        everything = self._store.list(BUNDLE, key.namespace)
        live = {
            str(meta(b)["name"]): b
            for b in everything
            if owned_by(b, key.name)
            and (only is None or (meta(b).get("labels") or {}).get(SOURCE_CLUSTER_LABEL) in only)
        }
        for name, bundle in sorted(live.items()):
            source = (meta(bundle).get("labels") or {}).get(SOURCE_CLUSTER_LABEL, "")
            kept = source in outcomes and outcomes[source] is None  # not evaluated: untouched
            if name not in wanted and not kept and not meta(bundle).get("deletionTimestamp"):
                log.info("EventTrigger %s: withdrawing bundle %s", key, name)
                with contextlib.suppress(NotFoundError):
                    await self._mgmt.delete(BUNDLE_API_VERSION, BUNDLE_KIND, name, key.namespace)
        for name in [n for n in confirmed if n not in wanted and (only is None or n in live)]:
            del confirmed[name]
        for name, bundle in sorted(wanted.items()):
            current = live.get(name)
            if current is not None:
                if meta(current).get("deletionTimestamp"):
                    continue  # a bundle being deleted is made again once it is gone
                version = str(meta(current).get("resourceVersion") or "")
                if confirmed.get(name) == (version, bundle):
                    continue
                if same_bundle(current, bundle):
                    confirmed[name] = (version, bundle)
                    continue
            log.info("EventTrigger %s: applying bundle %s", key, name)
            made = await self._mgmt.apply(bundle, field_manager=FIELD_MANAGER, force=True)
            confirmed[name] = (str(meta(made).get("resourceVersion") or ""), bundle)
        return list(self._store.list(BUNDLE, key.namespace))

    def _basis(self, key: TriggerKey, trigger: Object) -> EventTriggerStatus | None:
        """The status last composed, written or not; the stored one after a restart."""
        memory = self._memory[key]
        if memory.composed is not None:
            return memory.composed
        return memory.status_of(memory.written or trigger.get("status"))

    async def _tell(
        self,
        trigger: Object,
        spec: EventTriggerSpec,
        reason: str,
        message: str,
        *,
        warning: bool = False,
    ) -> None:
        """A Kubernetes Event, and the same notice to the trigger's webhooks (in the
        background: delivery never holds up the reconcile)."""
        await self._events.record(trigger, reason=reason, message=message, warning=warning)
        m = meta(trigger)
        key = TriggerKey(str(m["namespace"]), str(m["name"]))
        notice = Notice(f"EventTrigger {key}", reason, message, warning)
        self.notifier.send(key.namespace, spec.notifications, notice, partial(self._delivered, key))

    def _delivered(self, key: TriggerKey, outcome: NotificationStatus) -> None:
        memory = self._memory.get(key)
        if memory is not None:
            memory.deliveries[outcome.name] = outcome
            self.queue.add(key)

    async def _record_matches(
        self,
        trigger: Object,
        spec: EventTriggerSpec,
        status: EventTriggerStatus | None,
        outcomes: dict[str, ClusterOutcome | None],
        only: set[str] | None,
    ) -> None:
        """Events for objects that started or stopped matching (on the clusters of ``only``,
        when given: the others were not evaluated)."""
        before = (
            {c.cluster_ref.name: from_status(c.matching_resources) for c in status.clusters}
            if status
            else {}
        )
        for name, outcome in sorted(outcomes.items()):
            if outcome is None or (only is not None and name not in only):
                continue
            old = before.get(name, frozenset())
            for rk in sorted(outcome.matching - old):
                await self._tell(
                    trigger, spec, "Matched", describe_match(rk, name, outcome.message)
                )
            for rk in sorted(old - outcome.matching):
                await self._tell(trigger, spec, "Unmatched", describe_match(rk, name, None))

    async def _compose_status(
        self,
        key: TriggerKey,
        trigger: Object,
        spec: EventTriggerSpec,
        outcomes: dict[str, ClusterOutcome | None],
        bundles: list[Object],
        status: EventTriggerStatus | None,
    ) -> Result:
        now = self._clock()
        mine = bundles_by_source(b for b in bundles if owned_by(b, key.name))
        entries, total = cluster_entries(
            key.name,
            outcomes,
            mine,
            status,
            one_for_event=spec.one_for_event,
            now=now,
            cache=self._memory[key].entries,
        )
        for reason, text, warning in phase_notices(status, entries):
            await self._tell(trigger, spec, reason, text, warning=warning)
        message = f"{total} matching object(s) on {len(outcomes)} cluster(s)"
        condition = ready_condition(
            status,
            generation=generation_of(trigger),
            reason="Evaluated",
            message=message,
            now=now,
        )
        composed = compose(
            generation=generation_of(trigger),
            clusters=entries,
            condition=condition,
            notifications=deliveries(
                status.notifications if status else (), self._memory[key].deliveries
            ),
        )
        self.status.owe(key, composed)
        return DONE

    async def _stopped(
        self,
        key: TriggerKey,
        trigger: Object,
        status: EventTriggerStatus | None,
        stop: StoppedError,
    ) -> Result:
        condition = ready_condition(
            status,
            generation=generation_of(trigger),
            reason=stop.reason,
            message=stop.message,
            now=self._clock(),
        )
        composed = compose(
            generation=generation_of(trigger),
            clusters=status.clusters if status else (),
            condition=condition,
            notifications=status.notifications if status else (),
        )
        if composed.to_dict() != (status.to_dict() if status else None):
            log.warning("EventTrigger %s: %s: %s", key, stop.reason, stop.message)
            await self._events.record(
                trigger, reason=stop.reason, message=stop.message, warning=True
            )
        self.status.owe(key, composed)
        return DONE

    async def _gone(self, key: TriggerKey) -> Result:
        """The trigger is gone or going: its watches stop and its bundles are withdrawn."""
        self.watches.want(str(key), ())
        self._memory.pop(key, None)
        for bundle in list(self._store.list(BUNDLE, key.namespace)):
            if owned_by(bundle, key.name) and not meta(bundle).get("deletionTimestamp"):
                log.info("EventTrigger %s is gone: withdrawing %s", key, describe(bundle))
                with contextlib.suppress(NotFoundError):
                    await self._mgmt.delete(
                        BUNDLE_API_VERSION, BUNDLE_KIND, str(meta(bundle)["name"]), key.namespace
                    )
        return DONE
