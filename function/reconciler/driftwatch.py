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
needs (`Kept`: the add-on label, the bundle, object hash and opt-out annotations and a digest
of everything but status; its key is the watch's, in strings interned across clusters), so an
idle cluster does not hold a copy of every object its add-ons applied. The periodic check
stays as the safety net for a missed event or a watch that could not run.

The same records judge health: one carries the built-in health verdict of an object that is
not healthy (none for a healthy one, so a settled cluster holds nothing more), and `owned`
hands an add-on's objects to the health gate as small copies (`Kept.copy`, read back by
`kept_health`) while every watch of its kinds is synced, so a target waiting for health is
judged again without listing its kinds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Callable, Iterable
from operator import itemgetter

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
from function.reconciler.drift import IGNORE_ANNOTATION
from function.reconciler.eventwatch import EventWatches, WatchKey
from function.reconciler.hashing import HASH_ANNOTATION, canonical_json
from function.reconciler.heal import Healer
from function.reconciler.health import builtin_health
from function.reconciler.inputs import Inputs
from function.reconciler.keys import BundleKey, TargetKey
from function.reconciler.store import ObjectId, Store
from function.reconciler.triggerplan import ResourceKey, resource_key

log = logging.getLogger(__name__)

OnDrift = Callable[[TargetKey], None]
"""A target drifted."""


class DriftWatch:
    """The watches of applied objects, for every target in drift-detection mode."""

    def __init__(self, inputs: Inputs, store: Store, healer: Healer) -> None:
        self._inputs = inputs
        self._store = store
        self._healer = healer
        self._watches = EventWatches(
            self._connect, _ignore, on_event=self._event, keep=keep, key_of=shared_key
        )
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
                (key, kept)
                for key, kept in view.objects.items()
                if kept.addon == owner.addon and kept.bundle == bundle
            ]
            found += [kept.copy(key) for key, kept in sorted(of_kind, key=itemgetter(0))]
        return found

    def active(self) -> list[WatchKey]:
        """The running watches, sorted."""
        return self._watches.active()

    def synced(self) -> bool:
        """Whether every running watch has listed its kind at least once (after a restart:
        whether the drift watches have caught up with what is applied)."""
        return self._watches.synced()

    async def close(self) -> None:
        """Stop every watch."""
        self._wanted.clear()
        await self._watches.close()

    async def _connect(self, cid: ObjectId) -> KubeClient:
        return await self._inputs.client_of(cid, self._specs.get(cid))

    def _event(
        self, key: WatchKey, rk: ResourceKey, before: Kept | None, kept: Kept, deleted: bool
    ) -> None:
        self.events += 1
        addon, bundle = kept.addon, kept.bundle
        if not addon or not bundle:
            return
        target = TargetKey(BundleKey.parse(str(bundle)), key.cluster)
        if target not in self._wanted or not moved(before, kept, deleted):
            return
        self.detected += 1
        what = "deleted" if deleted else "changed"
        obj = kept.copy(rk)
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


def moved(before: Kept | None, after: Kept, deleted: bool) -> bool:
    """Whether an event of an owned object may be drift: it went away, or someone other
    than the reconciler changed more than its status (pure; what `keep` kept of the object
    before and now)."""
    if deleted:
        return not after.opted_out and not (before is not None and before.opted_out)
    if before is None or before.hash != after.hash or after.opted_out:
        return False
    return before.digest != after.digest


_VOLATILE = ("resourceVersion", "generation", "managedFields")
_DIGEST_SIZE = 16
HEALTH = "health"
"""The key under which a reader's copy (`Kept.copy`) carries the verdict of an unhealthy
object."""
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RAW, _TEXT = b"\x01", b"\x02"
"""How the object hash follows the digest in `Kept.stamp`: as the 32 bytes of a SHA-256 hex
digest (what every apply stamps), or as UTF-8 (anything else someone wrote there)."""


class Kept:
    """What a drift watch keeps of an applied object: what sorting its events, handing an
    add-on's objects to the health gate and judging them read — the add-on label, the bundle
    annotation, whether it opts out of drift detection, a 16-byte digest of everything but
    status and volatile metadata followed by the object hash annotation in one bytes object
    (`stamp`), and the built-in verdict while it is not healthy. Its key
    (`triggerplan.ResourceKey`) is the watch's. About 150 bytes (the key and the watch's dict
    entry besides), where a dict of the same labels and annotations took 1 KiB."""

    __slots__ = ("addon", "bundle", "health", "opted_out", "stamp")

    def __init__(
        self,
        addon: str | None,
        bundle: str | None,
        hash_: str | None,
        opted_out: bool,
        digest: bytes,
        health: Verdict | None = None,
    ) -> None:
        assert len(digest) == _DIGEST_SIZE
        self.addon = addon
        self.bundle = bundle
        self.opted_out = opted_out
        self.health = health
        """None while healthy."""
        if hash_ is None:
            self.stamp = digest
        elif _SHA256_HEX.fullmatch(hash_):
            self.stamp = digest + _RAW + bytes.fromhex(hash_)
        else:
            self.stamp = digest + _TEXT + hash_.encode()

    @property
    def digest(self) -> bytes:
        """The digest of the object's content but status and volatile metadata."""
        return self.stamp[:_DIGEST_SIZE]

    @property
    def hash(self) -> str | None:
        """The object hash annotation (`HASH_ANNOTATION`), as it was written."""
        tag, value = self.stamp[_DIGEST_SIZE : _DIGEST_SIZE + 1], self.stamp[_DIGEST_SIZE + 1 :]
        if not tag:
            return None
        return value.hex() if tag == _RAW else value.decode()

    def _fields(self) -> tuple[object, ...]:
        return (self.addon, self.bundle, self.opted_out, self.stamp, self.health)

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Kept) and self._fields() == other._fields())

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = (self.addon, self.bundle, self.hash, self.opted_out, self.digest, self.health)
        return f"Kept{fields!r}"

    def copy(self, key: ResourceKey) -> Object:
        """The object as a reader sees it: apiVersion, kind, name and namespace, the labels
        and annotations kept, and the verdict under `HEALTH` while it is not healthy."""
        api_version, kind, namespace, name = key
        annotations = {HASH_ANNOTATION: self.hash, BUNDLE_ANNOTATION: self.bundle}
        if self.opted_out:
            annotations[IGNORE_ANNOTATION] = "true"
        metadata = {
            "name": name,
            "namespace": namespace or None,
            "labels": {ADDON_LABEL: self.addon} if self.addon is not None else {},
            "annotations": {k: v for k, v in annotations.items() if v is not None},
        }
        copy: Object = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
        if self.health is not None:
            copy[HEALTH] = self.health
        return copy


def keep(obj: Object) -> Kept:
    """What a drift watch keeps of ``obj`` (`Kept`), its strings interned (pure)."""
    m = meta(obj)
    labels = m.get("labels") or {}
    annotations = m.get("annotations") or {}
    hash_ = annotations.get(HASH_ANNOTATION)
    verdict = builtin_health(obj)
    return Kept(
        _text(labels.get(ADDON_LABEL)),
        _text(annotations.get(BUNDLE_ANNOTATION)),
        str(hash_) if hash_ is not None else None,
        annotations.get(IGNORE_ANNOTATION) == "true",
        _digest(obj),
        None if verdict.healthy else verdict,
    )


def fingerprint(obj: Object) -> Object:
    """The copy of ``obj`` a reader of a drift watch gets (`Kept.copy`, pure)."""
    return keep(obj).copy(resource_key(obj))


_KEYS: dict[ResourceKey, ResourceKey] = {}
"""The keys `shared_key` handed out lately, each once: the clusters an add-on applied to
repeat them."""
_KEYS_HELD = 8192
"""At most this many (then `_KEYS` starts again: keys already kept stay as they are)."""


def shared_key(obj: Object) -> ResourceKey:
    """`resource_key` with interned strings, and the very key handed out for an equal one
    lately: the clusters an add-on applied to repeat them."""
    api_version, kind, namespace, name = resource_key(obj)
    key = (sys.intern(api_version), sys.intern(kind), sys.intern(namespace), sys.intern(name))
    held = _KEYS.get(key)
    if held is None:
        if len(_KEYS) >= _KEYS_HELD:
            _KEYS.clear()
        held = _KEYS[key] = key
    return held


def kept_health(kept: Object) -> Verdict:
    """The built-in verdict of an object from a reader's copy (`Kept.copy`, pure)."""
    verdict = kept.get(HEALTH, HEALTHY)
    assert isinstance(verdict, Verdict)
    return verdict


def _text(value: object) -> str | None:
    return sys.intern(str(value)) if value is not None else None


def _digest(obj: Object) -> bytes:
    m = {k: v for k, v in meta(obj).items() if k not in _VOLATILE}
    content = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": m}
    return hashlib.blake2b(canonical_json(content), digest_size=_DIGEST_SIZE).digest()


def _watch_key(cluster: ObjectId, kind_key: str) -> WatchKey:
    api_version, kind = split_kind_key(kind_key)
    group, _, version = api_version.rpartition("/")
    return WatchKey(
        cluster, sys.intern(group), sys.intern(version), sys.intern(kind), selector=BUNDLE_LABEL
    )


def _ignore(cluster: ObjectId) -> None:
    """Whole-cluster changes mean nothing here: each event is looked at by itself."""
