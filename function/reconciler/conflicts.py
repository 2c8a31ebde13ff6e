"""Two bundles applying the same object to one cluster: which one manages it.

Every object an add-on applies carries the ownership labels of its bundle and add-on (and,
for a tier other than the default, ``addons.aifleet.io/tier``). Before an add-on writes on a
cluster other bundles also target, `claim` reads the objects of its kinds that any bundle
manages and sorts each of its own objects (`resolve`, pure):

- nobody else manages it (absent, ours, or no bundle's): it may be written — server-side
  apply without force still refuses fields another field manager owns, so nothing written by
  hand or by another tool is taken over silently;
- another bundle manages it with a higher tier: this one (the lower tier) takes it over, and
  the other bundle's add-on is told (`Claim.displaced`) so that it reports the conflict;
- another bundle manages it with a lower or equal tier: it stays theirs; this add-on reports
  a `Conflict` naming the winner, and fails with nothing applied unless
  ``continueOnConflict``.

`Arbiter` holds the state around it: whether a cluster has other bundles at all (a cluster
with one bundle costs no read), and which add-ons lost objects to another bundle since they
were last applied (kept in the loser's target record, `function.reconciler.memory`: they are
looked at again, and report the conflict). When a bundle's add-ons leave a cluster
(`Arbiter.withdrawn`: the bundle is deleted, stops targeting it, or drops an add-on), the
targets there whose last status names it as the winner of a conflict are queued at once: what
it kept is free now, so they need not wait for the periodic resync. So are those whose conflict
names an object the bundle pruned because it no longer renders it (`Arbiter.pruned`).
A DryRun plan asks the same question (`function.reconciler.plan`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from function.errors import NotFoundError
from function.kube.client import KubeClient
from function.model.bundle import AddonBundleSpec
from function.model.bundlestatus import ClusterAddonsStatus, ObjectConflict
from function.model.objects import Object, describe, meta
from function.reconciler.apply import (
    ADDON_LABEL,
    BUNDLE_ANNOTATION,
    BUNDLE_LABEL,
    Identity,
    Owner,
    identity,
    kind_key,
    read_selected,
)
from function.reconciler.keys import BundleKey, TargetKey
from function.reconciler.memory import Memory
from function.reconciler.store import ObjectId

log = logging.getLogger(__name__)

TIER_ANNOTATION = "addons.aifleet.io/tier"
DEFAULT_TIER = 100


@dataclass
class Claim:
    """What an add-on may write, and what it may not."""

    objects: list[Object] = field(default_factory=list)
    """The objects it may write (every object, when nothing conflicts)."""
    conflicts: list[ObjectConflict] = field(default_factory=list)
    """Objects another bundle keeps, with that bundle."""
    displaced: set[tuple[str, str]] = field(default_factory=set)
    """(``<ns>/<bundle>``, add-on) of the lower-precedence owners this add-on takes over from."""


def stamp_tier(objects: Sequence[Object], tier: int) -> list[Object]:
    """``objects`` with the tier annotation when it is not the default (pure; before the
    object hash is stamped, so the tier is part of what is applied)."""
    if tier == DEFAULT_TIER:
        return list(objects)
    out = []
    for obj in objects:
        m = dict(meta(obj))
        m["annotations"] = {**(m.get("annotations") or {}), TIER_ANNOTATION: str(tier)}
        out.append({**obj, "metadata": m})
    return out


def tier_of(obj: Object) -> int:
    """The tier of the bundle that applied ``obj``."""
    value = (meta(obj).get("annotations") or {}).get(TIER_ANNOTATION)
    try:
        return int(value) if value is not None else DEFAULT_TIER
    except ValueError:
        return DEFAULT_TIER


def manager_of(obj: Object) -> str | None:
    """The bundle (``<ns>/<name>``) managing a live object, if a bundle does."""
    m = meta(obj)
    if BUNDLE_LABEL not in (m.get("labels") or {}):
        return None
    value = (m.get("annotations") or {}).get(BUNDLE_ANNOTATION)
    return str(value) if value else None


def resolve(
    objects: Sequence[Object], managed: dict[Identity, Object], owner: Owner, tier: int
) -> Claim:
    """Sort ``objects`` of ``owner`` against what bundles manage live (pure)."""
    claim = Claim()
    mine = f"{owner.bundle_namespace}/{owner.bundle_name}"
    for obj in objects:
        live = managed.get(identity(obj))
        other = manager_of(live) if live is not None else None
        if live is None or other is None or other == mine:
            claim.objects.append(obj)
            continue
        their_tier = tier_of(live)
        if tier < their_tier:
            claim.objects.append(obj)
            addon = str((meta(live).get("labels") or {}).get(ADDON_LABEL, ""))
            claim.displaced.add((other, addon))
        else:
            claim.conflicts.append(
                ObjectConflict(object=describe(obj), winner=other, winner_tier=their_tier)
            )
    return claim


async def claim(client: KubeClient, owner: Owner, objects: Sequence[Object], tier: int) -> Claim:
    """`resolve` against the objects of ``objects``' kinds any bundle manages on the cluster."""
    return resolve(objects, await read_managed(client, {kind_key(o) for o in objects}), owner, tier)


async def read_managed(client: KubeClient, kind_keys: Iterable[str]) -> dict[Identity, Object]:
    """Every object of ``kind_keys`` that some bundle manages, by identity."""
    return await read_selected(client, kind_keys, BUNDLE_LABEL)


def conflict_message(conflicts: Sequence[ObjectConflict]) -> str:
    """``conflict: ConfigMap apps/x is managed by AddonBundle team-a/base (tier 10)``."""
    parts = [
        f"{c.object} is managed by AddonBundle {c.winner} (tier {c.winner_tier})" for c in conflicts
    ]
    return "conflict: " + "; ".join(parts)


async def managed_elsewhere(client: KubeClient, obj: Object, owner: Owner) -> str | None:
    """The other bundle managing ``obj`` on the cluster now, if one does (one read)."""
    m = meta(obj)
    try:
        live = await client.get(obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))
    except NotFoundError:
        return None
    other = manager_of(live)
    return other if other not in (None, f"{owner.bundle_namespace}/{owner.bundle_name}") else None


class Arbiter:
    """Conflicts between bundles on the clusters of this reconciler."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory
        self.shared: Callable[[ObjectId], bool] = lambda cluster: True
        """Whether bundles other than one target ``cluster`` (set by the reconciler)."""
        self.on_displaced: Callable[[TargetKey], None] = lambda target: None
        """Queue a target: it lost objects (set by the reconciler)."""
        self.on_released: Callable[[TargetKey], None] = lambda target: None
        """Queue a target: the bundle that kept objects from it withdrew (set by the
        reconciler)."""

    def lost(self, target: TargetKey, addon: str) -> bool:
        """Whether ``addon`` of ``target`` lost objects to another bundle since it applied."""
        record = self._memory.get(target)
        return record is not None and addon in record.lost

    def withdrawn(self, bundle: BundleKey, cluster: ObjectId) -> None:
        """``bundle`` withdrew add-ons from ``cluster``: queue the targets there that lost
        objects to it (`losers`); their add-ons apply again, even those that went on
        without the objects (``continueOnConflict``)."""
        self._release(losers(self._memory.statuses, bundle, cluster), f"{bundle} withdrew")

    def pruned(self, bundle: BundleKey, cluster: ObjectId, objects: Collection[str]) -> None:
        """``bundle`` pruned ``objects`` (`describe`d) from ``cluster``, no longer rendering
        them: queue the targets there that lost one of them to it; their add-ons apply again."""
        if not objects:
            return
        found = losers(self._memory.statuses, bundle, cluster, objects)
        self._release(found, f"{bundle} pruned {', '.join(sorted(objects))}")

    def _release(self, found: Mapping[TargetKey, set[str]], why: str) -> None:
        """Mark the add-ons of ``found`` to apply again and queue their targets."""
        for loser, addons in sorted(found.items()):
            log.info("%s: %s applies again", why, loser)
            record = self._memory.of(loser)
            record.lost = record.lost.union(addons)
            self.on_released(loser)

    async def claim(
        self,
        client: KubeClient,
        target: TargetKey,
        owner: Owner,
        objects: list[Object],
        spec: AddonBundleSpec,
    ) -> Claim:
        """What ``owner`` may write of ``objects`` on the target's cluster (all of them,
        unread, when no other bundle targets it)."""
        record = self._memory.of(target)
        if owner.addon in record.lost:
            record.lost = record.lost - {owner.addon}
        cluster = target.cluster
        if not self.shared(cluster):
            return Claim(objects=list(objects))
        found = await claim(client, owner, objects, spec.tier)
        for bundle, addon in sorted(found.displaced):
            log.info("%s takes objects of %s (add-on %s) on %s", target, bundle, addon, cluster)
            loser = TargetKey(BundleKey.parse(bundle), cluster)
            displaced = self._memory.of(loser)
            displaced.lost = displaced.lost | {addon}
            self.on_displaced(loser)
        return found


def losers(
    statuses: Mapping[TargetKey, ClusterAddonsStatus],
    bundle: BundleKey,
    cluster: ObjectId,
    objects: Collection[str] | None = None,
) -> dict[TargetKey, set[str]]:
    """The targets on ``cluster`` whose status names ``bundle`` as the winner of a conflict
    (over one of ``objects``, `describe`d, when given), with those add-ons (pure)."""
    winner = str(bundle)

    def kept(c: ObjectConflict) -> bool:
        return c.winner == winner and (objects is None or c.object in objects)

    found: dict[TargetKey, set[str]] = {}
    for key, status in statuses.items():
        if key.cluster != cluster or key.bundle == bundle:
            continue
        addons = {a.name for a in status.addons if any(kept(c) for c in a.conflicts or ())}
        if addons:
            found[key] = addons
    return found
