"""What an EventTrigger keeps instantiated for one source cluster, decided purely.

The trigger controller watches the kinds of an EventSource on each source cluster and
evaluates every change with `function.lua.events`. This module turns those verdicts into the
matching set and the add-on sets to keep, with no I/O:

- the matching set is kept in the trigger's status (`to_status` / `from_status`), so a restart
  starts from what was matching, not from nothing;
- an object leaves the set only when it was evaluated and did not match, or was deleted
  (a deletion event, or absence from a complete, successful list). A watch gap, a failed
  list or a missing evaluation changes nothing (`Observation` with ``complete=False``);
- `instances` names the add-on sets: one per cluster, or one per matching object with
  ``oneForEvent``, with names that depend only on the trigger, the cluster and the object,
  so the same match always gives the same set and a flapping object converges to its last
  state without duplicates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from function.lua.events import EventRules
from function.model.events import MatchingResource

ResourceKey = tuple[str, str, str, str]
"""(apiVersion, kind, namespace, name) of a workload-cluster object."""

_NAME_LIMIT = 63


def resource_key(obj: Mapping[str, Any]) -> ResourceKey:
    """The key of a workload-cluster object."""
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """What one pass over a source cluster established."""

    evaluated: Mapping[ResourceKey, bool] = field(default_factory=dict)
    """Objects whose rule ran, and whether they matched."""
    deleted: frozenset[ResourceKey] = frozenset()
    """Objects the cluster reported deleted."""
    complete: bool = False
    """Whether ``evaluated`` covers every selected object of a successful list: an object of
    the previous set that it lacks has been deleted."""


def next_matching(previous: Iterable[ResourceKey], seen: Observation) -> frozenset[ResourceKey]:
    """The matching set after ``seen``: only evaluated non-matches and deletions remove."""
    matching = set(previous)
    for key, matched in seen.evaluated.items():
        if matched:
            matching.add(key)
        else:
            matching.discard(key)
    matching -= seen.deleted
    if seen.complete:
        matching &= set(seen.evaluated)
    return frozenset(matching)


def instance_name(trigger: str, cluster: str, key: ResourceKey | None = None) -> str:
    """The deterministic name of one add-on set: ``<trigger>-<cluster>`` (shortened with a
    digest when too long), and a digest of the object with ``oneForEvent``."""
    base = f"{trigger}-{cluster}"
    if key is None and len(base) <= _NAME_LIMIT:
        return base
    digest = hashlib.sha256("/".join((base, *(key or ()))).encode()).hexdigest()[:10]
    return f"{base[: _NAME_LIMIT - 11].rstrip('-')}-{digest}"


def instances(
    trigger: str, cluster: str, matching: Iterable[ResourceKey], *, one_for_event: bool
) -> dict[str, ResourceKey | None]:
    """The add-on sets to keep, by name: the object each was made for (``oneForEvent``), or
    None for the one set of a cluster with any match."""
    keys = sorted(matching)
    if not keys:
        return {}
    if not one_for_event:
        return {instance_name(trigger, cluster): None}
    return {instance_name(trigger, cluster, key): key for key in keys}


def to_status(matching: Iterable[ResourceKey]) -> list[MatchingResource]:
    """The matching set as status entries, sorted."""
    return [
        MatchingResource(api_version=a, kind=k, namespace=ns or None, name=n)
        for a, k, ns, n in sorted(matching)
    ]


def from_status(entries: Iterable[MatchingResource]) -> frozenset[ResourceKey]:
    """The matching set a status recorded."""
    return frozenset((e.api_version, e.kind, e.namespace or "", e.name) for e in entries)


Verdicts = dict[ResourceKey, tuple[str, bool, str | None]]
"""Per object of one cluster: (resourceVersion judged, matched, the rule's message)."""


def observe(
    verdicts: Verdicts, rules: EventRules, seen: Mapping[ResourceKey, Mapping[str, Any]]
) -> tuple[Observation, str | None]:
    """A complete observation of ``seen`` (every object of a synced watch), running the rule
    only on objects whose resourceVersion it has not judged yet (``verdicts`` is updated),
    then the aggregated selection; the last message of a match. A failing rule raises
    `LuaError` and leaves the matching set to the caller unchanged."""
    message: str | None = None
    for rk, obj in seen.items():
        version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        cached = verdicts.get(rk)
        if cached is None or cached[0] != version:
            verdict = rules.match_object(obj)
            verdicts[rk] = (version, verdict.matching, verdict.message)
    for rk in [k for k in verdicts if k not in seen]:
        del verdicts[rk]
    candidates = [rk for rk in seen if verdicts[rk][1]]
    for rk in candidates:
        message = verdicts[rk][2] or message
    if rules.aggregated:
        outcome = rules.aggregate([seen[k] for k in candidates])
        chosen = {candidates[i] for i in outcome.matching}
        message = outcome.message or message
    else:
        chosen = set(candidates)
    return Observation({rk: rk in chosen for rk in seen}, complete=True), message
