"""The deleting half of the emulated API server: finalizers, namespaces, garbage collection.

`DeletionMixin` gives `apiserver.ApiServer` kube-apiserver's deletion semantics: preconditions
(uid, resourceVersion), objects with finalizers that linger with a `deletionTimestamp` (and
`generation` bumped) until the last finalizer goes, namespaces that turn `Terminating`, delete
their content and disappear once empty (the namespace controller's `spec.finalizers`),
background garbage collection of dependents through `ownerReferences` (Orphan strips the
references instead; Foreground behaves as Background), and CRDs whose deletion removes their
custom resources and stops serving their kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from function.testing import objects
from function.testing.managed_fields import ManagedEntry, decode_entries
from function.testing.resources import CRD_KEY, NAMESPACE_KEY, Registry, ResourceType
from function.testing.status import conflict
from function.testing.store import Store, Stored
from function.testing.targets import MERGE, DeleteOptions, Target, WriteOptions
from function.testing.values import copy


class DeletionMixin:
    """Deletion for `apiserver.ApiServer`, which provides the state and write primitives below
    (``patch``, ``_store`` and ``_log`` take the arguments of its methods of those names)."""

    registry: Registry
    store: Store
    patch: Callable[[Target, str, Any, WriteOptions], tuple[Stored, bool]]
    _store: Callable[
        [Target, Stored | None, dict[str, Any], list[ManagedEntry], WriteOptions, str], Stored
    ]
    _log: Callable[[str, Target, Stored, str], None]

    def _check_preconditions(self, target: Target, live: Stored, opts: DeleteOptions) -> None:
        resource_type = target.resource_type
        uid = live.obj["metadata"].get("uid")
        if opts.uid is not None and opts.uid != uid:
            why = f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: {uid}"
            raise conflict(resource_type.plural, resource_type.group, live.name, why)
        if opts.resource_version is not None and opts.resource_version != str(live.rv):
            why = (
                f"Precondition failed: ResourceVersion in precondition: {opts.resource_version}, "
                f"ResourceVersion in object meta: {live.rv}"
            )
            raise conflict(resource_type.plural, resource_type.group, live.name, why)

    def _delete(
        self, resource_type: ResourceType, live: Stored, opts: DeleteOptions
    ) -> tuple[Stored, bool]:
        target = Target(
            resource_type,
            live.obj["apiVersion"].rpartition("/")[2],
            live.namespace or None,
            live.name,
        )
        write = WriteOptions(opts.field_manager, dry_run=opts.dry_run)
        if opts.propagation_policy == "Orphan" and not opts.dry_run:
            self._orphan_dependents(live)
        metadata = live.obj["metadata"]
        if resource_type.key == NAMESPACE_KEY:
            return self._terminate_namespace(target, live, write)
        if not metadata.get("finalizers"):
            if opts.dry_run:
                return live, True
            return self._remove(resource_type, live, "delete", opts.field_manager, target), True
        if "deletionTimestamp" in metadata:
            return live, False
        return self._mark_deleting(target, live, write), False

    def _mark_deleting(self, target: Target, live: Stored, opts: WriteOptions) -> Stored:
        new = copy(live.obj)
        new["metadata"]["deletionTimestamp"] = objects.now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if target.resource_type.tracks_generation:
            new["metadata"]["generation"] = int(new["metadata"].get("generation", 0)) + 1
        if target.resource_type.key == NAMESPACE_KEY:
            new["status"] = {**new.get("status", {}), "phase": "Terminating"}
        return self._store(target, live, new, decode_entries(live.obj), opts, "delete")

    def _terminate_namespace(
        self, target: Target, live: Stored, opts: WriteOptions
    ) -> tuple[Stored, bool]:
        if opts.dry_run:
            return live, False
        marked = live
        if "deletionTimestamp" not in live.obj["metadata"]:
            marked = self._mark_deleting(target, live, opts)
        namespace = live.name
        content = DeleteOptions(field_manager="namespace-controller")
        for resources in list(self.store.resources.values()):
            if resources.resource_type.namespaced:
                for stored in list(resources.by_namespace.get(namespace, {}).values()):
                    self._delete(resources.resource_type, stored, content)
        final = self._finalize_namespace(namespace)
        return final or marked, ("", namespace) not in self._namespaces()

    def _namespaces(self) -> dict[tuple[str, str], Stored]:
        return self.store.resource(self.registry.types[NAMESPACE_KEY]).objects

    def _finalize_namespace(self, namespace: str) -> Stored | None:
        """Finalize a terminating namespace once it is empty, as the namespace controller does.

        Clearing `spec.finalizers` removes the namespace unless `metadata.finalizers` remain.
        """
        found = self._namespaces().get(("", namespace))
        if found is None or "deletionTimestamp" not in found.obj["metadata"]:
            return None
        if self.store.namespace_population.get(namespace):
            return None
        if not (found.obj.get("spec") or {}).get("finalizers"):
            return None
        finalized = copy(found.obj)
        finalized["spec"] = {k: v for k, v in finalized["spec"].items() if k != "finalizers"}
        namespaces = self.registry.types[NAMESPACE_KEY]
        target = Target(namespaces, "v1", None, namespace, "finalize")
        entries = decode_entries(found.obj)
        return self._store(
            target, found, finalized, entries, WriteOptions("namespace-controller"), "update"
        )

    def _remove(
        self,
        resource_type: ResourceType,
        live: Stored,
        verb: str,
        manager: str,
        target: Target,
        last_state: dict[str, Any] | None = None,
    ) -> Stored:
        final = self.store.remove(resource_type, live, self.store.next_rv(), last_state)
        self._log(verb, replace(target, subresource=""), final, manager)
        for dependent_type, dependent, _, _ in self._dependents(live):
            collector = DeleteOptions(field_manager="garbage-collector")
            self._delete(dependent_type, dependent, collector)
        if resource_type.key == CRD_KEY:
            self._drop_custom_resources(final.obj)
        if live.namespace:
            self._finalize_namespace(live.namespace)
        return final

    def _drop_custom_resources(self, crd: dict[str, Any]) -> None:
        removed = self.registry.remove((crd["spec"]["group"], crd["spec"]["names"]["plural"]))
        if removed is None:
            return
        resources = self.store.resource(removed)
        for stored in list(resources.objects.values()):
            self.store.remove(removed, stored, self.store.next_rv())
        for watcher in list(resources.watchers):
            watcher.close()
        self.store.drop_resource(removed.key)

    def _dependents(self, live: Stored) -> Iterator[tuple[ResourceType, Stored, str, str]]:
        """What ``live`` owns through ``ownerReferences``, with its namespace and name: each
        looked up when reached, so one gone by then (collected with another) is passed over."""
        uid = live.obj["metadata"].get("uid", "")
        for key, namespace, name in list(self.store.dependents.get(uid, ())):
            dependent_type = self.registry.types.get(key)
            if dependent_type is None:
                continue
            dependent = self.store.resource(dependent_type).get(namespace, name)
            if dependent is not None:
                yield dependent_type, dependent, namespace, name

    def _orphan_dependents(self, live: Stored) -> None:
        uid = live.obj["metadata"].get("uid", "")
        for dependent_type, dependent, namespace, name in self._dependents(live):
            refs = dependent.obj["metadata"].get("ownerReferences") or []
            kept = [ref for ref in refs if ref.get("uid") != uid]
            patch = {"metadata": {"ownerReferences": kept or None}}
            target = Target(
                dependent_type,
                dependent.obj["apiVersion"].rpartition("/")[2],
                namespace or None,
                name,
            )
            self.patch(target, MERGE, patch, WriteOptions("garbage-collector"))


def held_by_finalizers(resource_type: ResourceType, obj: dict[str, Any]) -> bool:
    """Whether anything still holds the object: `metadata.finalizers`, or a namespace's spec."""
    if obj["metadata"].get("finalizers"):
        return True
    return resource_type.key == NAMESPACE_KEY and bool((obj.get("spec") or {}).get("finalizers"))
