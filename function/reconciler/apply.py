"""Applying one rendered add-on to a workload cluster: all of it, in order, writing only changes.

The steps, for the objects `render` produced:

1. **Resolve** every kind against the workload API before writing anything: a kind that is
   neither served nor defined by a CRD of this add-on fails the add-on with nothing applied.
2. **Prepare** (pure): default the namespace of namespaced objects, stamp the ownership labels
   and the object hash annotation, sort in Helm's install order (namespaces and CRDs first).
3. **Read** what this add-on owns now: one labelled list per kind, current and previous.
4. **Write** with server-side apply only the objects whose hash differs from the live one;
   CRDs are applied first and waited for until the API serves their kinds.
5. **Prune** owned objects this render no longer produces, in reverse install order.

The same ownership labels find an add-on's objects again for pruning and withdrawal, so no
inventory object is written: a steady state costs reads, never writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from function.errors import ConflictError, NotFoundError, RenderError, SourceLocation
from function.kube.client import KubeClient, ResourceInfo
from function.model.objects import Object, describe, group_of, meta
from function.reconciler.hashing import recorded_hash, with_hash_annotation

BUNDLE_LABEL = "addons.aifleet.io/bundle"
ADDON_LABEL = "addons.aifleet.io/addon"
BUNDLE_ANNOTATION = "addons.aifleet.io/bundle"
CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")

INSTALL_ORDER = (
    *("PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange"),
    *("PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList"),
    *("ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim"),
    *("CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding"),
    *("ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList"),
    *("Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment"),
    *("HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress"),
    *("APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
)
"""Helm's install order by kind; kinds not listed (custom resources) come last."""
_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}


@dataclass(frozen=True, slots=True)
class Owner:
    """The add-on of a bundle that owns objects in a workload cluster."""

    bundle_namespace: str
    bundle_name: str
    addon: str

    @property
    def bundle_id(self) -> str:
        """A label-safe id of the bundle (names may be longer than a label value)."""
        ref = f"{self.bundle_namespace}/{self.bundle_name}".encode()
        return hashlib.sha256(ref).hexdigest()[:20]

    def labels(self) -> dict[str, str]:
        """Labels stamped on every owned object."""
        return {BUNDLE_LABEL: self.bundle_id, ADDON_LABEL: self.addon}

    def selector(self) -> str:
        """The label selector that finds every owned object."""
        return f"{BUNDLE_LABEL}={self.bundle_id},{ADDON_LABEL}={self.addon}"


@dataclass
class ApplyResult:
    """What an apply did and what is live afterwards (for health checks)."""

    written: int = 0
    unchanged: int = 0
    pruned: int = 0
    stale: list[str] = field(default_factory=list)
    """The objects pruned (`describe`d): no longer rendered, so free for another bundle."""
    live: list[Object] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    waiting: str | None = None
    """Set when a CRD of the add-on is not served yet; the rest is applied on a later pass."""


def kind_key(obj: Object) -> str:
    """``apps/v1/Deployment`` — how applied kinds are recorded in status."""
    return f"{obj['apiVersion']}/{obj['kind']}"


def split_kind_key(key: str) -> tuple[str, str]:
    """``apps/v1/Deployment`` → (``apps/v1``, ``Deployment``), each held once however many
    watches and records keep it."""
    api_version, _, kind = key.rpartition("/")
    return sys.intern(api_version), sys.intern(kind)


def install_rank(obj: Object) -> int:
    """Position of an object's kind in the install order."""
    return _RANK.get(str(obj.get("kind")), len(_RANK))


def prepare(
    objects: Sequence[Object],
    owner: Owner,
    infos: dict[str, ResourceInfo | None],
    *,
    default_namespace: str,
) -> list[Object]:
    """Stamp, namespace and sort the rendered objects (pure).

    ``infos`` maps each `kind_key` to how the API serves it, or None for a kind a CRD of this
    add-on will define (custom resources are namespaced unless their CRD says otherwise).
    """
    crd_scopes = _crd_scopes(objects)
    out: list[Object] = []
    for obj in objects:
        info = infos.get(kind_key(obj))
        namespaced = (
            info.namespaced
            if info is not None
            else crd_scopes.get((group_of(obj["apiVersion"]), obj["kind"]), True)
        )
        m: dict[str, Any] = dict(meta(obj))
        if namespaced:
            m.setdefault("namespace", default_namespace)
        else:
            m.pop("namespace", None)
        m["labels"] = {**(m.get("labels") or {}), **owner.labels()}
        annotations = dict(m.get("annotations") or {})
        annotations[BUNDLE_ANNOTATION] = f"{owner.bundle_namespace}/{owner.bundle_name}"
        m["annotations"] = annotations
        out.append(with_hash_annotation({**obj, "metadata": m}))
    out.sort(key=install_rank)
    return out


async def resolve_kinds(
    client: KubeClient, objects: Sequence[Object], *, addon: str, tolerate_unknown: bool = False
) -> dict[str, ResourceInfo | None]:
    """How each kind is served; None for kinds a CRD in ``objects`` defines.

    Raises `RenderError` naming the object when a kind is unknown to the cluster — unless
    ``tolerate_unknown`` (a dry run, where another add-on's CRD would define it): None then.
    """
    defined = {key for key, _ in _crd_scopes(objects).items()}
    infos: dict[str, ResourceInfo | None] = {}
    for obj in objects:
        key = kind_key(obj)
        if key in infos:
            continue
        try:
            infos[key] = await client.resource_info(obj["apiVersion"], obj["kind"])
        except NotFoundError as exc:
            if tolerate_unknown or (group_of(obj["apiVersion"]), obj["kind"]) in defined:
                infos[key] = None
            else:
                raise RenderError(SourceLocation(addon), f"{describe(obj)}: {exc}") from None
    return infos


Identity = tuple[str, str, str, str]
"""An object's `identity`: group, kind, namespace ('' for cluster-scoped), name."""


async def read_owned(
    client: KubeClient, owner: Owner, kind_keys: Iterable[str]
) -> dict[Identity, Object]:
    """The live objects ``owner`` owns among ``kind_keys``, by identity."""
    return await read_selected(client, kind_keys, owner.selector())


async def read_selected(
    client: KubeClient, kind_keys: Iterable[str], label_selector: str
) -> dict[Identity, Object]:
    """The live objects of ``kind_keys`` that ``label_selector`` selects, by identity."""
    live: dict[Identity, Object] = {}
    for key in sorted(set(kind_keys)):
        api_version, kind = split_kind_key(key)
        live.update(
            await list_by_identity(client, api_version, kind, label_selector=label_selector)
        )
    return live


async def list_by_identity(
    client: KubeClient,
    api_version: str,
    kind: str,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
) -> dict[Identity, Object]:
    """One list call's objects by identity; none when the API does not serve the kind (its CRD
    is not there yet, or was removed)."""
    try:
        listed = await client.list(
            api_version, kind, namespace=namespace, label_selector=label_selector
        )
    except NotFoundError:
        return {}
    found: dict[Identity, Object] = {}
    for obj in listed.items:
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        found[identity(obj)] = obj
    return found


def identity(obj: Object) -> Identity:
    """An object's identity across versions: group, kind, namespace, name."""
    m = meta(obj)
    return (group_of(obj["apiVersion"]), obj["kind"], m.get("namespace") or "", m["name"])


async def apply_objects(
    client: KubeClient,
    owner: Owner,
    objects: Sequence[Object],
    *,
    previous_kinds: Iterable[str] | None,
    force: bool = False,
    crd_wait: float = 10.0,
) -> ApplyResult:
    """Converge the owner's objects in the cluster to ``objects`` (already `prepare`d).

    ``previous_kinds`` are the kinds applied last time, where objects to prune may be; None
    for a first install, which reads nothing before writing.
    """
    # Kept in status for every add-on and cluster: each kind's key is held once.
    result = ApplyResult(kinds=sorted({sys.intern(kind_key(o)) for o in objects}))
    live = (
        {}
        if previous_kinds is None
        else await read_owned(client, owner, [*result.kinds, *previous_kinds])
    )
    wanted = {identity(o) for o in objects}
    for obj in objects:
        current = live.get(identity(obj))
        if current is not None and recorded_hash(current) == recorded_hash(obj):
            result.unchanged += 1
            result.live.append(current)
            continue
        if not await _served(client, obj, crd_wait):
            result.waiting = f"waiting for the API to serve {obj['kind']} ({obj['apiVersion']})"
            return result
        result.live.append(await apply_object(client, obj, force=force))
        result.written += 1
    stale = sorted(
        (o for key, o in live.items() if key not in wanted), key=install_rank, reverse=True
    )
    for obj in stale:
        await delete_quietly(client, obj)
        result.pruned += 1
        result.stale.append(describe(obj))
    return result


class KnownNamespaces:
    """Per workload client, the namespaces known to exist (created or found), so that an
    add-on's namespace costs one request per client rather than one per apply."""

    def __init__(self) -> None:
        # A few names per client, kept as long as the client: a tuple is a tenth of a set.
        self._known: weakref.WeakKeyDictionary[KubeClient, tuple[str, ...]] = (
            weakref.WeakKeyDictionary()
        )

    async def ensure(self, client: KubeClient, name: str) -> None:
        """Create ``name`` unless it is known to exist."""
        if name not in self._known.get(client, ()):
            await ensure_namespace(client, name)
            known = self._known.get(client, ())
            if name not in known:  # not added meanwhile
                self._known[client] = (*known, name)

    def forget(self, client: KubeClient, name: str) -> bool:
        """Forget that ``name`` exists (it was deleted since); whether it was known."""
        known = self._known.get(client, ())
        if name not in known:
            return False
        self._known[client] = tuple(n for n in known if n != name)
        return True


async def ensure_namespace(client: KubeClient, name: str) -> bool:
    """Create namespace ``name`` unless it exists; return whether it was created.

    Namespaces are created, never owned: add-ons share them (KServe's three charts), so
    withdrawing one add-on must not delete the others' objects with the namespace.
    """
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "aifleet"}},
    }
    try:
        await client.create(namespace)
    except ConflictError:  # it exists: one request either way
        return False
    return True


async def withdraw(client: KubeClient, owner: Owner, kind_keys: Iterable[str]) -> int:
    """Delete every object ``owner`` owns among ``kind_keys``; return how many."""
    live = await read_owned(client, owner, kind_keys)
    for obj in sorted(live.values(), key=install_rank, reverse=True):
        await delete_quietly(client, obj)
    return len(live)


async def delete_quietly(client: KubeClient, obj: Object) -> None:
    """Delete an object that may already be gone."""
    m = meta(obj)
    with contextlib.suppress(NotFoundError):
        await client.delete(obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))


async def apply_object(client: KubeClient, obj: Object, *, force: bool) -> Object:
    """Server-side apply one prepared object (its status is never sent)."""
    body = {k: v for k, v in obj.items() if k != "status"}
    try:
        return await client.apply(body, force=force)
    except ConflictError as exc:
        raise ConflictError(
            f"{exc} (set forceConflicts on the add-on to take these fields over)",
            status=exc.status,
            reason=exc.reason,
        ) from exc


async def _served(client: KubeClient, obj: Object, wait: float) -> bool:
    """Whether the API serves the object's kind, waiting briefly for a fresh CRD."""
    deadline = asyncio.get_running_loop().time() + wait
    delay = 0.05
    while True:
        try:
            await client.resource_info(obj["apiVersion"], obj["kind"])
            return True
        except NotFoundError:
            if asyncio.get_running_loop().time() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _crd_scopes(objects: Iterable[Object]) -> dict[tuple[str, str], bool]:
    """(group, kind) → namespaced, for every CRD among ``objects``."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if (group_of(str(obj.get("apiVersion", ""))), obj.get("kind")) != CRD_KIND:
            continue
        spec = obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if kind:
            scopes[(str(spec.get("group", "")), str(kind))] = spec.get("scope") != "Cluster"
    return scopes
