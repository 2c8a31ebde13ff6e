"""The controller simulation engine: rules that react to writes after a delay, kwok-style.

No controller runs in the emulator. Instead, each cluster has a `Simulation` that listens to its
store: when an object is written, every enabled `Rule` interested in it is scheduled to
*reconcile* that object after the rule's delay (repeated writes collapse into one run). A rule
reads the object as it is then and writes what its controller would (usually a status) through
the same `ApiServer` verbs as any client, with a realistic field manager, so its writes show in
the write log and in watches. Rules are level-based and idempotent: a reconcile that finds
nothing to change writes nothing, which is what ends the chain of reactions.

Rules can be switched off and on per cluster at any time (switching one on reconciles every
object it cares about) and given their own delay. `workloads`, `extensions` and `capi` define
the rules; `cluster` exposes a `Simulation` per cluster.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from function.testing.apiserver import ApiServer
from function.testing.resources import ResourceType
from function.testing.status import StatusError
from function.testing.store import Event, ObjectRef, Stored
from function.testing.targets import MERGE, Target, WriteOptions
from function.testing.values import copy

if TYPE_CHECKING:
    from function.testing.fleet import Fleet

log = logging.getLogger(__name__)


class RuleContext(Protocol):
    """What a rule may use while reconciling."""

    api: ApiServer
    cluster_name: str
    fleet: Fleet


class Rule(Protocol):
    """A simulated controller behaviour."""

    name: str

    def targets(
        self, api: ApiServer, resource_type: ResourceType, event: Event
    ) -> Iterable[ObjectRef]:
        """The objects to reconcile after this event."""
        ...

    def resync(self, api: ApiServer) -> Iterable[ObjectRef]:
        """Every object this rule cares about (reconciled when the rule is switched on)."""
        ...

    async def reconcile(self, context: RuleContext, ref: ObjectRef) -> None:
        """Bring one object to the state the simulated controller would give it."""
        ...


@dataclass
class RuleSettings:
    """Whether a rule runs in a cluster, and after how long."""

    enabled: bool
    delay: float


class Simulation:
    """The simulation rules of one cluster (settings are safe to change from any thread)."""

    def __init__(
        self,
        api: ApiServer,
        cluster_name: str,
        fleet: Fleet,
        rules: Iterable[Rule],
        enabled: Callable[[str], bool],
        delay: float,
    ) -> None:
        self.api = api
        self.cluster_name = cluster_name
        self.fleet = fleet
        self._rules = {rule.name: rule for rule in rules}
        self._settings = {name: RuleSettings(enabled(name), delay) for name in self._rules}
        self._pending: set[tuple[str, ObjectRef]] = set()
        self._lock = threading.Lock()
        api.store.listeners.append(self._on_event)

    @property
    def rules(self) -> dict[str, RuleSettings]:
        """Every rule by name with its settings (a snapshot)."""
        with self._lock:
            return {n: RuleSettings(s.enabled, s.delay) for n, s in self._settings.items()}

    def is_enabled(self, name: str) -> bool:
        """Whether a rule is switched on."""
        return self._setting(name).enabled

    def enable(self, *names: str, delay: float | None = None) -> None:
        """Switch rules on (optionally with a new delay) and reconcile what they care about."""
        for name in names:
            setting = self._setting(name)
            with self._lock:
                setting.enabled = True
                if delay is not None:
                    setting.delay = delay
        self.fleet.call(lambda: self._resync(names))

    def disable(self, *names: str) -> None:
        """Switch rules off; scheduled reconciles of these rules do nothing."""
        for name in names:
            setting = self._setting(name)
            with self._lock:
                setting.enabled = False

    def set_delay(self, seconds: float, *names: str) -> None:
        """Change the delay of the named rules (all rules when none are named)."""
        with self._lock:
            for name in names or tuple(self._settings):
                self._setting(name).delay = seconds

    @contextmanager
    def paused(self, *names: str) -> Iterator[None]:
        """Switch rules off inside a ``with`` block and back on (with a resync) after it."""
        was_on = [name for name in names if self.is_enabled(name)]
        self.disable(*names)
        try:
            yield
        finally:
            if was_on:
                self.enable(*was_on)

    def _setting(self, name: str) -> RuleSettings:
        try:
            return self._settings[name]
        except KeyError:
            known = ", ".join(sorted(self._settings))
            raise KeyError(f"no simulation rule {name!r}; known rules: {known}") from None

    # -- loop thread ---------------------------------------------------------------------------

    def _resync(self, names: Iterable[str]) -> None:
        for name in names:
            for ref in self._rules[name].resync(self.api):
                self._schedule(name, ref)

    def _on_event(self, resource_type: ResourceType, event: Event) -> None:
        for name, rule in self._rules.items():
            if self._settings[name].enabled:
                for ref in rule.targets(self.api, resource_type, event):
                    self._schedule(name, ref)

    def _schedule(self, name: str, ref: ObjectRef) -> None:
        key = (name, ref)
        if key in self._pending:
            return
        self._pending.add(key)
        loop = asyncio.get_running_loop()
        loop.call_later(self._settings[name].delay, self._start, key)

    def _start(self, key: tuple[str, ObjectRef]) -> None:
        self._pending.discard(key)
        name, ref = key
        if self._settings[name].enabled and not self.fleet.stopping:
            task = asyncio.get_running_loop().create_task(self._run(name, ref))
            self.fleet.track(task)

    async def _run(self, name: str, ref: ObjectRef) -> None:
        try:
            await self._rules[name].reconcile(self, ref)
        except StatusError as error:
            if error.code == 409:
                self._schedule(name, ref)
            else:
                log.debug("simulation rule %s on %s: %s", name, ref, error.message)
        except Exception:
            log.exception("simulation rule %s failed on %s", name, ref)


# -- helpers for rules -----------------------------------------------------------------------


def lookup(api: ApiServer, ref: ObjectRef) -> tuple[ResourceType, Stored] | None:
    """The current object a reference names, with its type, if both still exist."""
    resource_type = api.registry.types.get(ref[0])
    if resource_type is None:
        return None
    stored = api.store.resource(resource_type).get(ref[1], ref[2])
    return None if stored is None else (resource_type, stored)


def ref_of(resource_type: ResourceType, stored: Stored) -> ObjectRef:
    """The reference of a stored object."""
    return (resource_type.key, stored.namespace, stored.name)


def target_of(resource_type: ResourceType, stored: Stored, subresource: str = "") -> Target:
    """The API target of a stored object, at the version it was written with."""
    version = stored.obj["apiVersion"].rpartition("/")[2]
    namespace = stored.namespace or None
    return Target(resource_type, version, namespace, stored.name, subresource)


def write_status(
    api: ApiServer, resource_type: ResourceType, stored: Stored, status: Any, manager: str
) -> Stored:
    """Replace an object's status as its controller would (a no-op when nothing changes)."""
    body = copy(stored.obj)
    body["status"] = status
    subresource = "status" if resource_type.status_subresource else ""
    return api.update(target_of(resource_type, stored, subresource), body, WriteOptions(manager))


def merge_metadata(
    api: ApiServer, resource_type: ResourceType, stored: Stored, metadata: Any, manager: str
) -> Stored:
    """Merge-patch an object's metadata (labels, annotations, finalizers)."""
    target = target_of(resource_type, stored)
    return api.patch(target, MERGE, {"metadata": metadata}, WriteOptions(manager))[0]


def objects_of(api: ApiServer, group: str, kind: str) -> list[tuple[ResourceType, Stored]]:
    """Every stored object of a kind (none when the kind is not served)."""
    resource_type = api.registry.by_kind.get((group, kind))
    if resource_type is None:
        return []
    return [(resource_type, s) for s in api.store.resource(resource_type).objects.values()]
