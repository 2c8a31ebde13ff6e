"""EventSource and EventTrigger: add-ons that follow events in workload clusters.

An `EventSource` (``addons.aifleet.io/v1alpha1``, namespaced) says which objects of a workload
cluster are events: Sveltos' ``resourceSelectors`` with a Lua ``evaluate`` per selector
(global ``obj`` → ``{matching, message}``), an optional ``aggregatedSelection`` (global
``resources`` → ``{resources, message}``) and ``collectResources``. An `EventTrigger` in the
same namespace picks source clusters, names its source, and carries the add-ons to instantiate
while objects match: on the source cluster itself, or on the clusters of
``destinationClusterSelector``; one set per matching object with ``oneForEvent``. Field names
are Sveltos'; both objects are confined to clusters of their own namespace, like bundles.

The Lua side is `function.lua.events`; the reconciler side is `function.reconciler.triggers`.
Status shapes live here too (a bundle's are in `function.model.bundlestatus`).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from function.model.bundle import ADDON_LIST_RULES, MAX_ADDONS, AddonSpec, dependency_order
from function.model.bundlestatus import AddonPhase, Condition
from function.model.common import DNS_LABEL, LabelSelector, ObjectRef, Spec, cel, parse
from function.model.notifications import Notification, NotificationStatus
from function.model.selectors import ResourceSelector
from function.model.sync import DEFAULT_SYNC_MODE, SYNC_MODE_DESCRIPTION, SyncMode

EVENT_SOURCE_KIND = "EventSource"
EVENT_TRIGGER_KIND = "EventTrigger"


class EventResourceSelector(ResourceSelector):
    """Objects of one kind that may be events, and the Lua rule deciding which are."""

    evaluate: str | None = Field(
        default=None,
        description="Lua: function evaluate() reads the global obj and returns {matching = "
        "bool, message = string}; every selected object matches when empty.",
    )


class EventSourceSpec(Spec):
    """The spec of an EventSource (Sveltos' field names)."""

    resource_selectors: tuple[EventResourceSelector, ...] = Field(
        min_length=1, description="The kinds watched and the rules over their objects."
    )
    aggregated_selection: str | None = Field(
        default=None,
        description="Lua: function evaluate() reads the global resources (the objects the "
        "selectors matched) and returns {resources = {...}, message = string}: the events.",
    )
    collect_resources: bool = Field(
        default=False,
        description="Give the templates of triggers the matching objects themselves "
        "(resource, resources), not only their references.",
    )


class EventTriggerSpec(Spec):
    """The spec of an EventTrigger."""

    CEL = (
        cel(
            "!has(self.notifications) || self.notifications.all(n, "
            "self.notifications.exists_one(m, m.name == n.name))",
            "notification names must be unique",
            ".notifications",
        ),
        *ADDON_LIST_RULES,
    )

    source_cluster_selector: LabelSelector = Field(
        description="Clusters (Cluster API Clusters of this namespace) whose objects are watched."
    )
    event_source_name: str = Field(
        pattern=DNS_LABEL, description="The EventSource, in this namespace, that defines events."
    )
    one_for_event: bool = Field(
        default=False,
        description="One set of add-ons per matching object (named after it) instead of one "
        "set per cluster for all matching objects.",
    )
    destination_cluster_selector: LabelSelector | None = Field(
        default=None,
        description="Clusters of this namespace that receive the add-ons; the cluster where the "
        "event happened when unset.",
    )
    sync_mode: SyncMode = Field(
        default=DEFAULT_SYNC_MODE,
        description="Sync mode of the instantiated bundles, which always state it. "
        + SYNC_MODE_DESCRIPTION,
    )
    addons: list[AddonSpec] = Field(
        min_length=1,
        max_length=MAX_ADDONS,
        description="The add-ons to instantiate; templates also see resource, resources and "
        "matchingResources.",
    )
    notifications: list[Notification] = Field(
        default_factory=list,
        max_length=32,
        description="Where to report matches and add-on transitions.",
    )

    @model_validator(mode="after")
    def _unique_notifications(self) -> Self:
        names = [n.name for n in self.notifications]
        if len(names) != len(set(names)):
            raise ValueError("notification names must be unique")
        return self


def parse_event_source_spec(data: Any, *, root: str = "spec") -> EventSourceSpec:
    """Parse an EventSource spec; `SpecError` names every bad field."""
    return parse(EventSourceSpec, data, root=root)


def parse_event_trigger_spec(data: Any, *, root: str = "spec") -> EventTriggerSpec:
    """Parse an EventTrigger spec: fields, add-on names, dependencies, no cycle."""
    spec = parse(EventTriggerSpec, data, root=root)
    dependency_order(spec.addons, root=f"{root}.addons")
    return spec


# --- status: written by the reconciler -------------------------------------------------------


class MatchingResource(Spec):
    """A reference to an object that matches (Sveltos' ``matchingResources`` entries)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None


class InstantiatedAddons(Spec):
    """One set of add-ons a trigger instantiated: the bundle that carries it, and its phases."""

    bundle: str
    resource: MatchingResource | None = None
    """The matching object it was made for (``oneForEvent``)."""
    destinations: list[ObjectRef] = Field(default_factory=list)
    """The clusters the bundle reports on."""
    phases: dict[str, AddonPhase] = Field(default_factory=dict)
    """Each add-on's phase (the least advanced over the destinations)."""
    ready: bool = False


class TriggerClusterStatus(Spec):
    """What a trigger saw on one source cluster and what it instantiated for it."""

    cluster_ref: ObjectRef
    matching_resources: list[MatchingResource] = Field(default_factory=list)
    message: str | None = None
    instantiated: list[InstantiatedAddons] = Field(default_factory=list)
    last_evaluation_time: str | None = None


class EventTriggerStatus(Spec):
    """The status of an EventTrigger."""

    observed_generation: int | None = None
    clusters: list[TriggerClusterStatus] = Field(default_factory=list)
    notifications: list[NotificationStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
