"""Drift found by watching: the objects add-ons applied, one watch per kind and cluster.

A target in ``ContinuousWithDriftDetection`` mode states the kinds its add-ons applied
(`want`); `DriftWatch` keeps one list+watch per (cluster, kind) of the objects carrying the
ownership label, shared by every bundle on that cluster — the same `EventWatches` the event
triggers use, narrowed by the label. Each event is sorted without a request (`moved`):

- a deletion, or an edit that leaves the object hash annotation as it was (someone else's
  write: every apply of ours stamps the hash of what it applies) and changes more than
  status, marks the target due and queues it (``on_drift``); its drift check compares with
  what the add-on applies — only managed fields count, `driftExclusions` and the opt-out
  annotation hold — and takes back what drifted;
- a new object, a write of ours (a new hash) or a status change queues nothing.

A controller that legitimately writes an excluded field costs one check per write and no
write, so there is no write loop. A watch keeps of each object only what sorting its events
needs (`fingerprint`: identity, the labels and annotations it reads and a digest of
everything but status),
so an idle cluster does not hold a copy of every object its add-ons applied. The periodic
check stays as the safety net for a missed event or a watch that could not run.

The same copies judge health: a fingerprint carries the built-in health verdict of an object
that is not healthy (`kept_health`; none for a healthy one, so a settled cluster holds nothing
more), and `owned` hands an add-on's copies to the health gate while every watch of its kinds
is synced, so a target waiting for health is judged again without listing its kinds.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Iterable

from function.kube.client import KubeClient
from function.model.bundle import AddonBundleSpec
from function.model.health import HEALTHY, Verdict
from function.model.objects import Object, describe, meta
from function.reconciler.apply import (
    ADDON_LABEL,
    BUNDLE_ANNOTATION,
    BUNDLE_LABEL,
    Owner,
    split_kind_key,
)
from function.reconciler.drift import IGNORE_ANNOTATION, ignored
from function.reconciler.eventwatch import EventWatches, WatchKey
from function.reconciler.hashing import HASH_ANNOTATION, canonical_json, recorded_hash
from function.reconciler.heal import Healer
from function.reconciler.health import builtin_health
from function.reconciler.inputs import Inputs
from function.reconciler.keys import BundleKey, TargetKey
from function.reconciler.store import ObjectId, Store
from function.reconciler.triggerplan import resource_key

log = logging.getLogger(__name__)

OnDrift = Callable[[TargetKey], None]
"""A target drifted."""


class DriftWatch:
    """The watches of applied objects, for every target in drift-detection mode."""

    def __init__(self, inputs: Inputs, store: Store, healer: Healer) -> None:
        self._inputs = inputs
        self._store = store
        self._healer = healer
        self._watches = EventWatches(self._connect, _ignore, on_event=self._event, keep=fingerprint)
        self._wanted: dict[TargetKey, frozenset[WatchKey]] = {}
        self._specs: dict[ObjectId, AddonBundleSpec] = {}
        """A spec of a bundle watched on each cluster: where its kubeconfig is."""
        self.on_drift: OnDrift = lambda target: None
        """Queue a target that drifted (set by the reconciler)."""
        self.detected = 0
        """Drifted objects the watches found."""
        self.events = 0
        """Events the watches delivered (each compared with what was applied)."""

    def want(
        self, target: TargetKey, kinds: Iterable[str], spec: AddonBundleSpec | None = None
    ) -> None:
        """``target`` applied ``kinds`` (`kind_key`) and is watched for drift on them; no
        kinds stops watching for it."""
        cluster = target.cluster
        keys = frozenset(_watch_key(cluster, kind) for kind in kinds)
        if spec is not None:
            self._specs[cluster] = spec
        if self._wanted.get(target, frozenset()) == keys:
            return
        if keys:
            self._wanted[target] = keys
        else:
            self._wanted.pop(target, None)
        self._watches.want(str(target), keys)

    def owned(self, cluster: ObjectId, kinds: Iterable[str], owner: Owner) -> list[Object] | None:
        """The fingerprints of what ``owner`` owns among ``kinds`` on ``cluster``, as the
        watches know them (in `read_owned`'s order); None unless every watch of those kinds
        runs and is synced (the objects must be read)."""
        bundle = f"{owner.bundle_namespace}/{owner.bundle_name}"
        found: list[Object] = []
        for kind in sorted(set(kinds)):
            view = self._watches.view(_watch_key(cluster, kind))
            if view is None or not view.synced or view.error is not None:
                return None
            of_kind = [
                obj
                for obj in view.objects.values()
                if obj["metadata"]["labels"].get(ADDON_LABEL) == owner.addon
                and obj["metadata"]["annotations"].get(BUNDLE_ANNOTATION) == bundle
            ]
            found += sorted(of_kind, key=resource_key)
        return found

    def active(self) -> list[WatchKey]:
        """The running watches, sorted."""
        return self._watches.active()

    async def close(self) -> None:
        """Stop every watch."""
        self._wanted.clear()
        await self._watches.close()

    async def _connect(self, cid: ObjectId) -> KubeClient:
        return await self._inputs.client_of(cid, self._specs.get(cid))

    def _event(self, key: WatchKey, before: Object | None, obj: Object, deleted: bool) -> None:
        self.events += 1
        m = meta(obj)
        addon = (m.get("labels") or {}).get(ADDON_LABEL)
        bundle = (m.get("annotations") or {}).get(BUNDLE_ANNOTATION)
        if not addon or not bundle:
            return
        target = TargetKey(BundleKey.parse(str(bundle)), key.cluster)
        if target not in self._wanted or not moved(before, obj, deleted):
            return
        self.detected += 1
        what = "deleted" if deleted else "changed"
        log.info(
            "drift: %s %s on %s (add-on %s)",
            describe(obj),
            what,
            key.cluster,
            addon,
            extra={
                "bundle": str(bundle),
                "cluster": str(key.cluster),
                "addon": addon,
                "object": describe(obj),
                "drift": what,
            },
        )
        self._healer.suspect(target)
        self.on_drift(target)


def moved(before: Object | None, after: Object, deleted: bool) -> bool:
    """Whether an event of an owned object may be drift: it went away, or someone other
    than the reconciler changed more than its status (pure; objects or their
    `fingerprint`)."""
    if deleted:
        return not ignored(before, after)
    if before is None or recorded_hash(before) != recorded_hash(after) or ignored(after):
        return False
    return _digest(before) != _digest(after)


_VOLATILE = ("resourceVersion", "generation", "managedFields")
_LABELS = (ADDON_LABEL,)
_ANNOTATIONS = (BUNDLE_ANNOTATION, HASH_ANNOTATION, IGNORE_ANNOTATION)
DIGEST = "contentDigest"
"""The key under which a `fingerprint` carries the digest of the object's content."""
HEALTH = "health"
"""The key under which a `fingerprint` carries the built-in verdict of an unhealthy object."""


def fingerprint(obj: Object) -> Object:
    """What a drift watch keeps of an object: apiVersion, kind, name and namespace, the
    labels and annotations sorting its events reads (the add-on, the bundle, the object
    hash, the opt-out), a 16-byte digest of the rest but status and volatile metadata, and
    the built-in health verdict while it is not healthy; the strings every object of a
    cluster repeats are interned, so a settled cluster holds a few hundred bytes per object
    it was given (pure)."""
    m = meta(obj)
    labels = m.get("labels") or {}
    annotations = m.get("annotations") or {}
    kept: dict[str, object] = {"name": m.get("name"), "namespace": _intern(m.get("namespace"))}
    kept["labels"] = {k: _intern(labels[k]) for k in _LABELS if k in labels}
    kept["annotations"] = {
        k: annotations[k] if k == HASH_ANNOTATION else _intern(annotations[k])
        for k in _ANNOTATIONS
        if k in annotations
    }
    out: Object = {
        "apiVersion": _intern(obj.get("apiVersion")),
        "kind": _intern(obj.get("kind")),
        "metadata": kept,
        DIGEST: _digest(obj),
    }
    verdict = builtin_health(obj)
    if not verdict.healthy:
        out[HEALTH] = verdict
    return out


def kept_health(kept: Object) -> Verdict:
    """The built-in verdict of an object from its `fingerprint` (pure)."""
    verdict = kept.get(HEALTH, HEALTHY)
    assert isinstance(verdict, Verdict)
    return verdict


def _intern(value: object) -> object:
    return sys.intern(value) if isinstance(value, str) else value


def _digest(obj: Object) -> bytes:
    if DIGEST in obj:
        return bytes(obj[DIGEST])
    m = {k: v for k, v in meta(obj).items() if k not in _VOLATILE}
    content = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": m}
    return hashlib.blake2b(canonical_json(content), digest_size=16).digest()


def _watch_key(cluster: ObjectId, kind_key: str) -> WatchKey:
    api_version, kind = split_kind_key(kind_key)
    group, _, version = api_version.rpartition("/")
    return WatchKey(cluster, group, version, kind, selector=BUNDLE_LABEL)


def _ignore(cluster: ObjectId) -> None:
    """Whole-cluster changes mean nothing here: each event is looked at by itself."""
