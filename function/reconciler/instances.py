"""The AddonBundles an EventTrigger keeps, built purely from what matches.

A trigger does not apply anything itself: each set of add-ons it instantiates is an ordinary
AddonBundle in the trigger's namespace, owned by the trigger and labelled with it and with the
source cluster, so the bundle reconciler converges it like any other (order, health gates,
hashes, status, drift, withdrawal by its finalizer). The event reaches the templates through
the bundle's ``spec.eventData`` (``resource``, ``matchingResources``): data, never template
text, so nothing in a workload-cluster object is ever evaluated as a template.

`desired_bundles` names and builds them (names from `function.reconciler.triggerplan`);
`same_bundle` says whether a live bundle already is what is wanted, comparing parsed specs so
that defaults the API server fills in do not count as a difference, and a restart with
nothing changed writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from function.errors import SpecError
from function.model.bundle import API_VERSION, KIND, parse_bundle_spec
from function.model.events import EventTriggerSpec
from function.model.objects import Object, meta
from function.reconciler.triggerplan import ResourceKey, instances

TRIGGER_LABEL = "addons.aifleet.io/event-trigger"
SOURCE_CLUSTER_LABEL = "addons.aifleet.io/source-cluster"
FIELD_MANAGER = "aifleet-events"
"""The field manager of the bundles triggers write (not the add-ons' manager)."""

_VOLATILE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def event_object(key: ResourceKey, obj: Mapping[str, Any] | None, *, collect: bool) -> Object:
    """What templates see of a matching object: all of it with ``collectResources`` (without
    volatile metadata), else its apiVersion, kind, name and namespace."""
    api_version, kind, namespace, name = key
    if collect and obj is not None:
        metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
        return {**obj, "metadata": metadata}
    reference: dict[str, Any] = {"name": name}
    if namespace:
        reference["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": reference}


def desired_bundles(
    trigger: Object,
    spec: EventTriggerSpec,
    cluster: Object,
    matching: frozenset[ResourceKey],
    objects: Mapping[ResourceKey, Object],
    *,
    collect: bool,
) -> dict[str, Object]:
    """The bundles to keep for one source cluster, by name (none while nothing matches)."""
    t = meta(trigger)
    cm = meta(cluster)
    trigger_name, namespace, cluster_name = str(t["name"]), str(t["namespace"]), str(cm["name"])
    everything = [event_object(k, objects.get(k), collect=collect) for k in sorted(matching)]
    raw_addons = (trigger.get("spec") or {}).get("addons") or []
    bundles: dict[str, Object] = {}
    for name, key in instances(
        trigger_name, cluster_name, matching, one_for_event=spec.one_for_event
    ).items():
        event: dict[str, Any] = {
            "trigger": trigger_name,
            "sourceCluster": cluster_name,
            "matchingResources": everything,
        }
        if key is not None:
            event["resource"] = event_object(key, objects.get(key), collect=collect)
        body: dict[str, Any] = {
            "syncMode": spec.sync_mode.value,
            "addons": raw_addons,
            "eventData": event,
        }
        if spec.destination_cluster_selector is None:
            body["clusterRef"] = {
                "apiVersion": str(cluster.get("apiVersion", "")),
                "kind": str(cluster.get("kind", "")),
                "name": cluster_name,
            }
        else:
            body["clusterSelector"] = spec.destination_cluster_selector.to_manifest()
        bundles[name] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {TRIGGER_LABEL: trigger_name, SOURCE_CLUSTER_LABEL: cluster_name},
                "ownerReferences": [
                    {
                        "apiVersion": str(trigger["apiVersion"]),
                        "kind": str(trigger["kind"]),
                        "name": trigger_name,
                        "uid": str(t.get("uid", "")),
                        "controller": True,
                    }
                ],
            },
            "spec": body,
        }
    return bundles


def owned_by(bundle: Object, trigger: str) -> bool:
    """Whether a bundle was made by the trigger named ``trigger`` (of its namespace)."""
    return (meta(bundle).get("labels") or {}).get(TRIGGER_LABEL) == trigger


def same_bundle(live: Object, wanted: Object) -> bool:
    """Whether ``live`` already is ``wanted``: the same parsed spec, labels and owner."""
    lm, wm = meta(live), meta(wanted)
    labels = lm.get("labels") or {}
    if any(labels.get(k) != v for k, v in (wm.get("labels") or {}).items()):
        return False
    owners = {(o.get("kind"), o.get("name"), o.get("uid")) for o in lm.get("ownerReferences") or []}
    if not all((o["kind"], o["name"], o["uid"]) in owners for o in wm["ownerReferences"]):
        return False
    try:
        return parse_bundle_spec(live.get("spec")) == parse_bundle_spec(wanted.get("spec"))
    except SpecError:
        return False
