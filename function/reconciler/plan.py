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
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from function.errors import ConflictError, NotFoundError
from function.kube.client import KubeClient
from function.model.bundle import PlanAction, PlannedChange
from function.model.objects import Object, describe, meta
from function.reconciler.apply import ADDON_LABEL, BUNDLE_LABEL, Owner, identity, kind_key
from function.reconciler.conflicts import conflict_message, read_managed, resolve
from function.reconciler.hashing import HASH_ANNOTATION

MAX_DIFF_LINES = 20
"""Changed fields listed per object; the rest are counted."""
MAX_VALUE_CHARS = 80
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
    changes: list[PlannedChange] = []
    for obj in objects:
        name = describe(obj)
        if name in lost:
            message = conflict_message([lost[name]])
            changes.append(PlannedChange(action=PlanAction.CONFLICT, object=name, message=message))
            continue
        live = managed.get(identity(obj))
        if live is not None and _owned(live, owner) and _hash(live) == _hash(obj):
            changes.append(PlannedChange(action=PlanAction.NO_ACTION, object=name))
            continue
        changes.append(await _existing(client, obj, live, force))
    wanted = {identity(o) for o in objects}
    for key, live in sorted(managed.items()):
        if key not in wanted and _owned(live, owner):
            changes.append(PlannedChange(action=PlanAction.DELETE, object=describe(live)))
    return changes


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
        return PlannedChange(action=PlanAction.CONFLICT, object=name, message=str(exc))
    lines = list(diff(live, after, secret=obj.get("kind") == "Secret"))
    if not lines:
        return PlannedChange(action=PlanAction.NO_ACTION, object=name)
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"… and {len(lines) - MAX_DIFF_LINES} more fields"]
    return PlannedChange(action=PlanAction.UPDATE, object=name, diff=lines)


def plan_summary(changes: Sequence[PlannedChange]) -> str:
    """``dry run: would create 1, update 2, delete 0 objects; 1 conflict``."""
    count = {action: sum(c.action is action for c in changes) for action in PlanAction}
    text = (
        f"dry run: would create {count[PlanAction.CREATE]}, update {count[PlanAction.UPDATE]},"
        f" delete {count[PlanAction.DELETE]} objects"
    )
    conflicts = count[PlanAction.CONFLICT]
    return text + (f"; {conflicts} conflict{'s' if conflicts > 1 else ''}" if conflicts else "")


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
        if secret and path.startswith(_SECRET_FIELDS):
            yield f"{path}: (changed)"
        else:
            yield f"{path}: {_show(before)} -> {_show(after)}"


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
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _owned(live: Object, owner: Owner) -> bool:
    labels = meta(live).get("labels") or {}
    return labels.get(BUNDLE_LABEL) == owner.bundle_id and labels.get(ADDON_LABEL) == owner.addon


def _hash(obj: Object) -> str | None:
    value = (meta(obj).get("annotations") or {}).get(HASH_ANNOTATION)
    return str(value) if value is not None else None
