"""The emulated kube-apiserver of one cluster: API verbs with their semantics, over a store.

`ApiServer` implements get, list, create, update (PUT), the four patch types, delete and
collection delete, for the main resource and the `/status` subresource, with kube-apiserver's
rules: `uid`/`creationTimestamp`/`generation`, one monotonic `resourceVersion` per cluster, 409
on stale writes, `generateName`, status isolation between the main resource and `/status`,
finalizers and `deletionTimestamp`, namespace lifecycle (no content in missing or terminating
namespaces; deleting a namespace deletes its content), garbage collection of dependents through
`ownerReferences`, CRDs that make their kinds servable, `managedFields` for every write and
server-side apply (`ssa`); the deleting half lives in `deletion`. A write that changes nothing
is not a write: no new resourceVersion, no watch event, nothing in the write log.

It knows nothing of HTTP (`server` parses requests into `Target`s and options) and runs only
on the fleet's event loop; `cluster` exposes it to other threads. Approximations: no admission
webhooks, no schema validation or defaulting, no conversion between CRD versions (one object is
served under every version), Foreground deletion behaves as Background, list pagination walks
the live state rather than a snapshot.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from function.testing import objects, patches, ssa
from function.testing.deletion import DeletionMixin, held_by_finalizers
from function.testing.managed_fields import (
    KeyFieldError,
    ManagedEntry,
    Path,
    compare,
    encode_entries,
    flatten,
    track_update,
)
from function.testing.resources import (
    CRD_KEY,
    NAMESPACE_KEY,
    SECRET_KEY,
    Registry,
    ResourceType,
    type_from_crd,
)
from function.testing.schema import BuiltinNode, root_schema
from function.testing.selectors import EVERYTHING, NO_FIELDS, FieldSelector, LabelSelector
from function.testing.status import (
    STALE,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    internal_error,
    invalid,
    not_found,
    unsupported_media_type,
)
from function.testing.store import Store, Stored
from function.testing.targets import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    DeleteOptions,
    ListResult,
    Target,
    WriteOptions,
)
from function.testing.values import copy, same
from function.testing.writelog import WriteLog

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ApiServer(DeletionMixin):
    """The API of one emulated cluster."""

    def __init__(self, *, history_limit: int = 1000) -> None:
        self.registry = Registry.with_builtins()
        self.store = Store(history_limit=history_limit)
        self.writes = WriteLog()
        namespaces = self.registry.types[NAMESPACE_KEY]
        for name in DEFAULT_NAMESPACES:
            body = {"metadata": {"name": name}}
            self.create(Target(namespaces, "v1", name=name), body, WriteOptions("kube-apiserver"))
        self.writes.clear()

    # -- resolving ---------------------------------------------------------------------------

    def target(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str = "",
    ) -> Target:
        """The target for an object of ``api_version``/``kind`` (404 if the kind is not served)."""
        resource_type = self.registry.for_kind(api_version, kind)
        if resource_type is None:
            raise StatusError(
                404, "NotFound", f"the server could not find the requested resource ({kind})"
            )
        version = api_version.rpartition("/")[2]
        if not resource_type.namespaced:
            namespace = None
        return Target(resource_type, version, namespace, name, subresource)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, target: Target) -> Stored:
        """The object a target names (404 if absent)."""
        resource_type = target.resource_type
        found = self.store.resource(resource_type).get(target.object_namespace, target.name or "")
        if found is None:
            raise not_found(resource_type.plural, resource_type.group, target.name or "")
        return found

    def find(self, target: Target) -> Stored | None:
        """The object a target names, or None."""
        resources = self.store.resource(target.resource_type)
        return resources.get(target.object_namespace, target.name or "")

    def list_objects(
        self,
        target: Target,
        labels: LabelSelector = EVERYTHING,
        fields: FieldSelector = NO_FIELDS,
        *,
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        """Matching objects in key order, paginated when ``limit`` is set."""
        list_rv, start = self.store.rv, None
        if continue_token:
            list_rv, start = _decode_continue(continue_token)
        namespace = target.namespace if target.resource_type.namespaced else None
        items: list[Stored] = []
        remaining = 0
        last: tuple[str, str] | None = None
        for stored in self.store.resource(target.resource_type).select(namespace, labels):
            key = (stored.namespace, stored.name)
            if start is not None and key <= start:
                continue
            if not labels.matches(stored.labels) or not fields.matches(stored.obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(stored)
            last = key
        if remaining and last is not None:
            token = _encode_continue(list_rv, last)
            return ListResult(items, list_rv, token, remaining)
        return ListResult(items, list_rv)

    # -- writes --------------------------------------------------------------------------------

    def create(self, target: Target, body: Any, opts: WriteOptions) -> Stored:
        """POST: create an object (409 if it exists, 404/403 for a missing/terminating ns)."""
        resource_type = target.resource_type
        if target.subresource:
            raise StatusError(405, "MethodNotAllowed", "create is not allowed on a subresource")
        body = objects.check_type(resource_type, target.version, body)
        obj = objects.normalise(resource_type, target.version, copy(body))
        metadata = obj["metadata"]
        if metadata.get("resourceVersion"):
            raise internal_error("resourceVersion should not be set on objects to be created")
        namespace = self._object_namespace(target, metadata)
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise invalid(
                    resource_type.kind,
                    resource_type.group,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )
            metadata["name"] = self._fresh_name(resource_type, namespace, metadata["generateName"])
        name = metadata["name"]
        objects.validate_name(resource_type, name)
        self._check_namespace(resource_type, namespace, name)
        if self.store.resource(resource_type).get(namespace, name) is not None:
            raise already_exists(resource_type.plural, resource_type.group, name)
        return self._create_object(target, obj, opts, verb="create", entries=None)

    def update(self, target: Target, body: Any, opts: WriteOptions) -> Stored:
        """PUT: replace an object (or its status); 409 when `resourceVersion` is stale."""
        live = self.get(target)
        body = objects.check_type(target.resource_type, target.version, body)
        self._check_identity(target, body)
        return self._replace(target, live, body, opts, verb="update")

    def patch(
        self, target: Target, content_type: str, patch: Any, opts: WriteOptions
    ) -> tuple[Stored, bool]:
        """PATCH with any of the four patch types; returns the object and whether it was created."""
        if content_type == APPLY:
            return self._apply(target, patch, opts)
        if opts.force:
            raise bad_request("force may not be set for non-apply patch types")
        live = self.get(target)
        current = copy(live.obj)
        if content_type == MERGE:
            patched = patches.merge_patch(current, patch)
        elif content_type == JSON_PATCH:
            patched = patches.json_patch(current, patch)
        elif content_type == STRATEGIC and target.resource_type.builtin:
            patched = patches.strategic_merge_patch(current, patch, BuiltinNode())
        else:
            accepted = [JSON_PATCH, MERGE, APPLY]
            if target.resource_type.builtin:
                accepted.insert(2, STRATEGIC)
            raise unsupported_media_type(content_type, accepted)
        patched = objects.check_type(target.resource_type, target.version, patched)
        return self._replace(target, live, patched, opts, verb="patch"), False

    def delete(self, target: Target, opts: DeleteOptions) -> tuple[Stored, bool]:
        """DELETE: remove an object, or mark it deleting while it has finalizers.

        Returns the object and whether it is gone.
        """
        live = self.get(target)
        self._check_preconditions(target, live, opts)
        return self._delete(target.resource_type, live, opts)

    def delete_collection(
        self, target: Target, labels: LabelSelector, fields: FieldSelector, opts: DeleteOptions
    ) -> list[Stored]:
        """DELETE on a collection: delete every matching object; returns them."""
        result = self.list_objects(target, labels, fields)
        return [self._delete(target.resource_type, stored, opts)[0] for stored in result.items]

    # -- internals: writing ---------------------------------------------------------------------

    def _object_namespace(self, target: Target, metadata: dict[str, Any]) -> str:
        if not target.resource_type.namespaced:
            metadata.pop("namespace", None)
            return ""
        namespace = target.namespace or metadata.get("namespace") or ""
        if metadata.get("namespace", namespace) != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        if not namespace:
            raise bad_request("a namespace is required for namespaced resources")
        metadata["namespace"] = namespace
        return str(namespace)

    def _fresh_name(self, resource_type: ResourceType, namespace: str, prefix: str) -> str:
        resources = self.store.resource(resource_type)
        while True:
            name = objects.generated_name(prefix)
            if resources.get(namespace, name) is None:
                return name

    def _check_namespace(self, resource_type: ResourceType, namespace: str, name: str) -> None:
        if not resource_type.namespaced:
            return
        found = self.store.resource(self.registry.types[NAMESPACE_KEY]).get("", namespace)
        if found is None:
            raise not_found("namespaces", "", namespace)
        if "deletionTimestamp" in found.obj["metadata"]:
            raise forbidden(
                resource_type.plural,
                resource_type.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _check_identity(self, target: Target, body: dict[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        name = metadata.get("name", target.name)
        if name != target.name:
            raise bad_request(
                f"the name of the object ({name}) does not match the name on the URL "
                f"({target.name})"
            )
        if target.resource_type.namespaced:
            namespace = metadata.get("namespace", target.namespace)
            if namespace != target.namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )

    def _check_fresh(self, target: Target, live: Stored, body: dict[str, Any]) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and str(wanted) != str(live.rv):
            resource_type = target.resource_type
            raise conflict(resource_type.plural, resource_type.group, live.name, STALE)

    def _replace(
        self, target: Target, live: Stored, body: dict[str, Any], opts: WriteOptions, verb: str
    ) -> Stored:
        """Shared by PUT and non-apply patches: status isolation, then commit."""
        self._check_fresh(target, live, body)
        resource_type = target.resource_type
        new = objects.normalise(resource_type, target.version, body)
        if target.subresource == "status":
            new = objects.with_status_of(live.obj, new)
            new = objects.normalise(resource_type, target.version, new)
        elif target.subresource:
            raise not_found(f"{resource_type.plural}/{target.subresource}", resource_type.group, "")
        elif resource_type.status_subresource:
            new = objects.with_status_of(new, live.obj)
        new = objects.carry_system_metadata(new, live.obj)
        objects.check_finalizers(resource_type, live.obj, new)
        return self._commit(target, live, new, opts, verb=verb, entries=None)

    def _apply(self, target: Target, config: Any, opts: WriteOptions) -> tuple[Stored, bool]:
        resource_type = target.resource_type
        if not opts.field_manager:
            raise bad_request("PATCH: fieldManager is required for apply requests")
        config = objects.check_type(resource_type, target.version, config)
        self._check_identity(target, config)
        if (config.get("metadata") or {}).get("managedFields"):
            raise bad_request("metadata.managedFields must be nil")
        live = self.find(target)
        if live is not None:
            self._check_fresh(target, live, config)
        elif target.subresource:
            raise not_found(resource_type.plural, resource_type.group, target.name or "")
        config = self._applied_part(target, config)
        applier = self._writer(opts, "Apply", target)
        schema = root_schema(resource_type, target.version)
        if live is None:
            base = {"metadata": {"name": target.name}}
            obj = objects.normalise(resource_type, target.version, base)
            namespace = self._object_namespace(target, obj["metadata"])
            objects.validate_name(resource_type, target.name or "")
            self._check_namespace(resource_type, namespace, target.name or "")
            result = self._ssa(obj, config, schema, [], applier, opts.force)
            created = self._create_object(target, result.obj, opts, "apply", result.entries)
            return created, True
        current = objects.normalise(resource_type, target.version, live.obj)
        live_flat = live.flattened(target.version, schema)
        result = self._ssa(current, config, schema, live.entries(), applier, opts.force, live_flat)
        new = objects.carry_system_metadata(result.obj, live.obj)
        objects.check_finalizers(resource_type, live.obj, new)
        return self._commit(target, live, new, opts, verb="apply", entries=result.entries), False

    def _ssa(
        self,
        live: dict[str, Any],
        config: dict[str, Any],
        schema: Any,
        entries: list[ManagedEntry],
        applier: ManagedEntry,
        force: bool,
        live_flat: dict[Path, Any] | None = None,
    ) -> ssa.ApplyResult:
        try:
            return ssa.apply(
                live, config, schema, entries, applier, force=force, live_flat=live_flat
            )
        except KeyFieldError as err:
            raise StatusError(422, "Invalid", str(err)) from err

    def _applied_part(self, target: Target, config: dict[str, Any]) -> dict[str, Any]:
        """The part of an applied configuration this endpoint takes into account."""
        resource_type = target.resource_type
        metadata = {
            k: v
            for k, v in (config.get("metadata") or {}).items()
            if k not in objects.SYSTEM_METADATA and k not in ("resourceVersion", "managedFields")
        }
        if target.subresource == "status":
            status = {"status": config["status"]} if "status" in config else {}
            return {"metadata": {"name": target.name}, **status}
        body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
        body["metadata"] = metadata
        return objects.split_status(resource_type, body)

    def _writer(self, opts: WriteOptions, operation: str, target: Target) -> ManagedEntry:
        return ManagedEntry(
            manager=opts.field_manager,
            operation=operation,
            api_version=target.api_version,
            time=objects.now(),
            fields=frozenset(),
            subresource=target.subresource,
        )

    def _create_object(
        self,
        target: Target,
        obj: dict[str, Any],
        opts: WriteOptions,
        verb: str,
        entries: list[ManagedEntry] | None,
    ) -> Stored:
        resource_type = target.resource_type
        metadata = obj["metadata"]
        for key in (*objects.SYSTEM_METADATA, "managedFields", "resourceVersion", "selfLink"):
            metadata.pop(key, None)
        metadata["uid"] = objects.new_uid()
        metadata["creationTimestamp"] = objects.now()
        if resource_type.tracks_generation:
            metadata["generation"] = 1
        if resource_type.status_subresource:
            status = objects.initial_status(resource_type, obj)
            obj = {k: v for k, v in obj.items() if k != "status"}
            if status is not None:
                obj["status"] = status
        if resource_type.key == NAMESPACE_KEY:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        if entries is None:
            writer = self._writer(opts, "Update", target)
            schema = root_schema(resource_type, target.version)
            entries = track_update([], compare({}, flatten(obj, schema)), writer)
        return self._store(target, None, obj, entries, opts, verb)

    def _commit(
        self,
        target: Target,
        live: Stored,
        new: dict[str, Any],
        opts: WriteOptions,
        verb: str,
        entries: list[ManagedEntry] | None,
    ) -> Stored:
        """Finish an update of ``live``: ownership, generation, no-op detection, store."""
        resource_type = target.resource_type
        if entries is None:
            schema = root_schema(resource_type, target.version)
            change = compare(live.flattened(target.version, schema), flatten(new, schema))
            entries = track_update(live.entries(), change, self._writer(opts, "Update", target))
        metadata = new["metadata"]
        if resource_type.tracks_generation and objects.spec_changed(resource_type, live.obj, new):
            metadata["generation"] = int(live.obj["metadata"].get("generation", 0)) + 1
        if not metadata.get("finalizers"):
            metadata.pop("finalizers", None)
        return self._store(target, live, new, entries, opts, verb)

    def _store(
        self,
        target: Target,
        live: Stored | None,
        new: dict[str, Any],
        entries: list[ManagedEntry],
        opts: WriteOptions,
        verb: str,
    ) -> Stored:
        resource_type = target.resource_type
        if resource_type.key == SECRET_KEY:
            objects.fold_string_data(new)
        metadata = new["metadata"]
        metadata.pop("managedFields", None)
        if entries:
            metadata["managedFields"] = encode_entries(entries)
        if live is not None:
            metadata["resourceVersion"] = str(live.rv)
            if new == live.obj and same(live.obj, new):
                return live
            if "deletionTimestamp" in metadata and not held_by_finalizers(resource_type, new):
                if opts.dry_run:
                    return Stored(new, live.rv)
                return self._remove(resource_type, live, verb, opts.field_manager, target, new)
        if opts.dry_run:
            return Stored(new, live.rv if live else 0)
        rv = self.store.next_rv()
        metadata["resourceVersion"] = str(rv)
        stored = self.store.put(resource_type, new, rv)
        self._log(verb, target, stored, opts.field_manager)
        if resource_type.key == CRD_KEY:
            self.registry.add(type_from_crd(stored.obj))
        if resource_type.key == NAMESPACE_KEY and "deletionTimestamp" in metadata:
            return self._finalize_namespace(stored.name) or stored
        return stored

    def _log(self, verb: str, target: Target, stored: Stored, manager: str) -> None:
        self.writes.add(
            verb=verb,
            api_version=target.api_version,
            kind=target.resource_type.kind,
            namespace=stored.namespace,
            name=stored.name,
            field_manager=manager,
            resource_version=str(stored.rv),
            subresource=target.subresource,
        )


def _encode_continue(rv: int, last: tuple[str, str]) -> str:
    raw = json.dumps({"rv": rv, "start": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise bad_request(f"invalid continue token: {token!r}") from err
