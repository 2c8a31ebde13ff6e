"""DryRun: what applying an add-on would do, object by object, writing nothing.

`plan_addon` reads what bundles manage of the add-on's kinds (one list per kind) and gives
each object one action, as Sveltos' ClusterReport does:

- **No Action** — ours, and its object hash is what would be applied;
- **Create** — nothing of that name exists;
- **Update** — it exists (ours, unmanaged, or a higher-tier bundle's that this one would take
  over): a server-side apply with ``dryRun=All`` gives the object as it would be, and `diff`
  lists each field that would change, ``/data/value: "v1" -> "v2"``;
- **Conflict** — a bundle of lower or equal tier manages it (`conflicts`), or the dry-run
  apply is refused because another field manager owns fields (without ``forceConflicts``);
- **Delete** — ours, and no longer rendered (pruned on a real apply).

A dry-run apply is validated and defaulted by the server but never stored, so the workload
cluster sees reads and dry runs only. Secret values never appear in a diff.

A plan must fit in status (`function.model.plan` has the limits): a diff lists at most
`MAX_DIFF_LINES` fields of at most `MAX_DIFF_LINE_CHARS` each, `cap_plan` lists at most
`MAX_PLAN_ENTRIES` objects (`MAX_PLAN_BYTES`) of an add-on's plan, changes before No Action,
and `cap_status_plans` keeps a whole bundle's status under `MAX_STATUS_PLAN_BYTES`; each
cut leaves a `PlanTruncation` with the counts of what is not listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from function.errors import ConflictError, NotFoundError
from function.kube.client import KubeClient
from function.model.bundlestatus import AddonPhase, AddonStatus, ClusterAddonsStatus
from function.model.objects import Object, describe, meta
from function.model.plan import (
    MAX_DIFF_LINE_CHARS,
    MAX_DIFF_LINES,
    MAX_DIFF_PATH_CHARS,
    MAX_DIFF_VALUE_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_PLAN_BYTES,
    MAX_PLAN_ENTRIES,
    MAX_STATUS_PLAN_BYTES,
    PlanAction,
    PlannedChange,
    PlanTruncation,
)
from function.reconciler.apply import (
    ADDON_LABEL,
    BUNDLE_LABEL,
    Identity,
    Owner,
    identity,
    kind_key,
    list_by_identity,
)
from function.reconciler.conflicts import conflict_message, read_managed, resolve
from function.reconciler.hashing import HASH_ANNOTATION, recorded_hash

_VOLATILE_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"}
)
_SECRET_FIELDS = ("/data", "/stringData")


async def plan_addon(
    client: KubeClient,
    owner: Owner,
    objects: Sequence[Object],
    previous_kinds: Sequence[str],
    *,
    tier: int,
    force: bool,
) -> list[PlannedChange]:
    """The action applying ``objects`` (prepared) would take on each object, and the deletions."""
    managed = await read_managed(client, {*(kind_key(o) for o in objects), *previous_kinds})
    lost = {c.object: c for c in resolve(objects, managed, owner, tier).conflicts}
    unmanaged = [o for o in objects if identity(o) not in managed and describe(o) not in lost]
    present = await _read_present(client, unmanaged) if len(unmanaged) > _GETS else None
    changes: list[PlannedChange] = []
    for obj in objects:
        name = describe(obj)
        if name in lost:
            message = conflict_message([lost[name]])
            changes.append(PlannedChange(action=PlanAction.CONFLICT, object=name, message=message))
            continue
        live = managed.get(identity(obj))
        if live is not None and _owned(live, owner) and recorded_hash(live) == recorded_hash(obj):
            changes.append(PlannedChange(action=PlanAction.NO_ACTION, object=name))
            continue
        if live is None and present is not None:
            live = present.get(identity(obj))
            if live is None:
                changes.append(PlannedChange(action=PlanAction.CREATE, object=name))
                continue
        changes.append(await _existing(client, obj, live, force))
    wanted = {identity(o) for o in objects}
    for key, live in sorted(managed.items()):
        if key not in wanted and _owned(live, owner):
            changes.append(PlannedChange(action=PlanAction.DELETE, object=describe(live)))
    return changes


async def planned_addon(
    client: KubeClient,
    owner: Owner,
    objects: Sequence[Object],
    previous: AddonStatus | None,
    input_hash: str,
    *,
    tier: int,
    force: bool,
) -> AddonStatus:
    """A DryRun add-on's status: its plan, cut to fit (`cap_plan`) and summed up in its
    message; Pending, since nothing is applied for anything to build on."""
    kinds = previous.kinds if previous else []
    changes = await plan_addon(client, owner, objects, kinds, tier=tier, force=force)
    listed, truncated = cap_plan(changes)
    return AddonStatus(
        name=owner.addon,
        phase=AddonPhase.PENDING,
        hash=input_hash,
        resources=len(objects),
        kinds=kinds,
        message=plan_summary(listed, truncated),
        last_applied_time=previous.last_applied_time if previous else None,
        plan=listed,
        plan_truncated=truncated,
    )


_GETS = 10
"""Objects no bundle manages that are looked for one read each; more are found by listing
their kinds per namespace (a plan of thousands of objects costs a few lists, not thousands
of reads against the workload cluster's rate limit)."""


async def _read_present(client: KubeClient, objects: Sequence[Object]) -> dict[Identity, Object]:
    """Which of ``objects`` exist, by identity: one list per kind and namespace."""
    found: dict[Identity, Object] = {}
    for api_version, kind, namespace in sorted(
        {(o["apiVersion"], o["kind"], meta(o).get("namespace") or "") for o in objects}
    ):
        found.update(await list_by_identity(client, api_version, kind, namespace=namespace or None))
    return found


async def _existing(
    client: KubeClient, obj: Object, live: Object | None, force: bool
) -> PlannedChange:
    name = describe(obj)
    m = meta(obj)
    if live is None:
        try:
            live = await client.get(obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))
        except NotFoundError:  # nothing there (or a kind another add-on's CRD will define)
            return PlannedChange(action=PlanAction.CREATE, object=name)
    try:
        after = await client.apply(
            {k: v for k, v in obj.items() if k != "status"}, force=force, dry_run=True
        )
    except ConflictError as exc:
        message = _cut(str(exc), MAX_MESSAGE_CHARS)
        return PlannedChange(action=PlanAction.CONFLICT, object=name, message=message)
    lines = list(diff(live, after, secret=obj.get("kind") == "Secret"))
    if not lines:
        return PlannedChange(action=PlanAction.NO_ACTION, object=name)
    return PlannedChange(action=PlanAction.UPDATE, object=name, diff=cap_diff(lines))


def cap_diff(lines: Sequence[str]) -> list[str]:
    """At most `MAX_DIFF_LINES` lines of at most `MAX_DIFF_LINE_CHARS`, then a line counting
    the fields left out (pure)."""
    kept = [_cut(line, MAX_DIFF_LINE_CHARS) for line in lines[:MAX_DIFF_LINES]]
    if len(lines) > MAX_DIFF_LINES:
        kept.append(f"… and {len(lines) - MAX_DIFF_LINES} more fields")
    return kept


def _cut(text: str, limit: int) -> str:
    """``text``, its middle replaced by ``…`` when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def cap_plan(
    changes: Sequence[PlannedChange],
    *,
    entries: int = MAX_PLAN_ENTRIES,
    budget: int = MAX_PLAN_BYTES,
    truncation: PlanTruncation | None = None,
) -> tuple[list[PlannedChange], PlanTruncation | None]:
    """The changes to list, in plan order, and the marker counting the rest (None: all are
    listed). Conflicts are kept first, then deletions, updates, creations and No Action, each
    while ``entries`` and ``budget`` (JSON bytes) allow. ``truncation``, a marker the plan
    had already, is added to (pure)."""
    ranked = sorted(range(len(changes)), key=lambda i: (_RANK[changes[i].action], i))
    kept: set[int] = set()
    size = 0
    for i in ranked:
        cost = _size(changes[i])
        if len(kept) >= entries or size + cost > budget:
            break
        kept.add(i)
        size += cost
    listed = [c for i, c in enumerate(changes) if i in kept]
    if len(listed) == len(changes):
        return listed, truncation
    dropped = [c for i, c in enumerate(changes) if i not in kept]
    base = truncation or PlanTruncation(total=len(changes), listed=len(changes))
    counts = {_FIELD[a]: getattr(base, _FIELD[a]) for a in PlanAction}
    for change in dropped:
        counts[_FIELD[change.action]] += 1
    return listed, PlanTruncation(total=base.total, listed=len(listed), **counts)


def cap_status_plans(
    clusters: Sequence[ClusterAddonsStatus], budget: int = MAX_STATUS_PLAN_BYTES
) -> list[ClusterAddonsStatus]:
    """``clusters`` with the listed plans of the whole status under ``budget`` JSON bytes: the
    add-ons past it (in status order) list what is left of the budget (pure)."""
    left = budget
    out: list[ClusterAddonsStatus] = []
    for cluster in clusters:
        addons: list[AddonStatus] = []
        for addon in cluster.addons:
            if addon.plan:
                listed, truncation = cap_plan(
                    addon.plan, budget=max(left, 0), truncation=addon.plan_truncated
                )
                left -= sum(_size(c) for c in listed)
                if truncation is not addon.plan_truncated:
                    addon = addon.model_copy(
                        update={
                            "plan": listed or None,
                            "plan_truncated": truncation,
                            "message": plan_summary(listed, truncation, base=addon.message),
                        }
                    )
            addons.append(addon)
        changed = any(a is not b for a, b in zip(addons, cluster.addons, strict=True))
        out.append(cluster.model_copy(update={"addons": addons}) if changed else cluster)
    return out


_RANK = {
    PlanAction.CONFLICT: 0,
    PlanAction.DELETE: 1,
    PlanAction.UPDATE: 2,
    PlanAction.CREATE: 3,
    PlanAction.NO_ACTION: 4,
}
"""Which objects a cut plan lists first: what needs a person's eye before what does not."""
_FIELD = {
    PlanAction.CREATE: "create",
    PlanAction.UPDATE: "update",
    PlanAction.DELETE: "delete",
    PlanAction.CONFLICT: "conflict",
    PlanAction.NO_ACTION: "no_action",
}


def _size(change: PlannedChange) -> int:
    """Bytes of ``change`` in the stored object's JSON, with the comma after it."""
    body = change.model_dump(mode="json", exclude_none=True)
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()) + 1


def plan_summary(
    changes: Sequence[PlannedChange],
    truncation: PlanTruncation | None = None,
    *,
    base: str | None = None,
) -> str:
    """``dry run: would create 1, update 2, delete 0 objects; 1 conflict``, counting every
    object of the plan, also those a ``truncation`` leaves unlisted (``; listing 100 of
    2000 objects``). ``base``: the summary already made, to which only the listing is set."""
    if base is not None:
        text = base.split("; listing ", 1)[0]
    else:
        count = {action: sum(c.action is action for c in changes) for action in PlanAction}
        if truncation is not None:  # ``changes`` are the listed ones: add the others
            for action in PlanAction:
                count[action] += getattr(truncation, _FIELD[action])
        text = (
            f"dry run: would create {count[PlanAction.CREATE]}, update"
            f" {count[PlanAction.UPDATE]}, delete {count[PlanAction.DELETE]} objects"
        )
        conflicts = count[PlanAction.CONFLICT]
        text += f"; {conflicts} conflict{'s' if conflicts > 1 else ''}" if conflicts else ""
    if truncation is None:
        return text
    return f"{text}; listing {truncation.listed} of {truncation.total} objects"


def diff(before: Object, after: Object, *, secret: bool = False) -> Iterator[str]:
    """``/path: old -> new`` for every field that differs (pure). Server bookkeeping and the
    object hash are left out; a Secret's values are shown as ``(changed)``."""
    yield from _walk(_comparable(before), _comparable(after), "", secret)


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Any = _Absent()


def _walk(before: Any, after: Any, path: str, secret: bool) -> Iterator[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from _walk(
                before.get(key, _ABSENT), after.get(key, _ABSENT), f"{path}/{escaped}", secret
            )
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _walk(old, new, f"{path}/{i}", secret)
    elif before != after:
        shown = _cut(path, MAX_DIFF_PATH_CHARS)
        if secret and path.startswith(_SECRET_FIELDS):
            yield f"{shown}: (changed)"
        else:
            yield f"{shown}: {_show(before)} -> {_show(after)}"


def _comparable(obj: Object) -> Object:
    m = {k: v for k, v in meta(obj).items() if k not in _VOLATILE_METADATA}
    annotations = {k: v for k, v in (m.get("annotations") or {}).items() if k != HASH_ANNOTATION}
    if annotations:
        m["annotations"] = annotations
    else:
        m.pop("annotations", None)
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": m}


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_DIFF_VALUE_CHARS else text[: MAX_DIFF_VALUE_CHARS - 1] + "…"


def _owned(live: Object, owner: Owner) -> bool:
    labels = meta(live).get("labels") or {}
    return labels.get(BUNDLE_LABEL) == owner.bundle_id and labels.get(ADDON_LABEL) == owner.addon
