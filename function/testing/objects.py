"""Object-level rules of the API server that need no store: metadata, names, generation.

Pure helpers `apiserver` applies to every write: normalising an object's shape (``apiVersion``,
``kind``, ``metadata`` first, so `store.Stored` can rewrite the version cheaply), carrying the
system-owned metadata over from the live object, validating names, generating names from
`generateName`, deciding whether `metadata.generation` moves, and separating what the main
resource and the `/status` subresource may change.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from function.testing.resources import ResourceType
from function.testing.status import StatusError, bad_request, invalid
from function.testing.values import copy, same

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what kube's name generator draws from
SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def now() -> str:
    """The current time as the API server formats timestamps (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    """A fresh object UID."""
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    """``prefix`` plus five random characters, as `metadata.generateName` asks."""
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def normalise(resource_type: ResourceType, version: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with ``apiVersion``, ``kind`` and ``metadata`` first, set for this type."""
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return {
        "apiVersion": resource_type.api_version(version),
        "kind": resource_type.kind,
        "metadata": dict(obj.get("metadata") or {}),
        **rest,
    }


def fold_string_data(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret's write-only ``stringData`` merged into ``data`` (base64), as kube stores it."""
    string_data = obj.pop("stringData", None)
    if string_data:
        data = dict(obj.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    return obj


def check_type(resource_type: ResourceType, version: str, obj: Any) -> dict[str, Any]:
    """Reject a body that is not an object of the URL's apiVersion and kind (400)."""
    if not isinstance(obj, dict):
        raise bad_request("the body of the request must be a JSON or YAML object")
    expected = resource_type.api_version(version)
    api_version = obj.get("apiVersion", expected)
    if api_version != expected:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({expected})"
        )
    kind = obj.get("kind", resource_type.kind)
    if kind != resource_type.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind")
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object")
    return obj


def validate_name(resource_type: ResourceType, name: str) -> None:
    """422 unless the name is valid for the kind (DNS subdomain; DNS label for namespaces)."""
    if resource_type.group == "rbac.authorization.k8s.io":
        valid = bool(name) and "/" not in name and "%" not in name and name not in (".", "..")
        rule = "a valid path segment name"
    elif resource_type.kind == "Namespace":
        valid = len(name) <= 63 and bool(_LABEL.match(name))
        rule = "a lowercase RFC 1123 label"
    else:
        valid = len(name) <= 253 and bool(_SUBDOMAIN.match(name))
        rule = "a lowercase RFC 1123 subdomain"
    if not valid:
        raise invalid(
            resource_type.kind,
            resource_type.group,
            name,
            "metadata.name",
            f'Invalid value: "{name}": must be {rule}',
        )


def split_status(resource_type: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without `status` when the type has a status subresource (main endpoint writes)."""
    if resource_type.status_subresource and "status" in obj:
        return {k: v for k, v in obj.items() if k != "status"}
    return obj


def with_status_of(obj: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """``obj`` carrying the status of ``source`` (or none when ``source`` has none)."""
    result = {k: v for k, v in obj.items() if k != "status"}
    if "status" in source:
        result["status"] = source["status"]
    return result


def carry_system_metadata(new: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the metadata only the server sets taken from ``live`` (and its identity)."""
    live_meta = live["metadata"]
    untouchable = {*SYSTEM_METADATA, "managedFields"}
    metadata = {k: v for k, v in new["metadata"].items() if k not in untouchable}
    metadata["name"] = live_meta["name"]
    if "namespace" in live_meta:
        metadata["namespace"] = live_meta["namespace"]
    for key in SYSTEM_METADATA:
        if key in live_meta:
            metadata[key] = live_meta[key]
    if "managedFields" in live_meta:
        metadata["managedFields"] = live_meta["managedFields"]
    return {**new, "metadata": metadata}


def spec_changed(resource_type: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a write changes what `metadata.generation` counts (all but metadata and status)."""
    ignored = {"apiVersion", "kind", "metadata"}
    if resource_type.status_subresource:
        ignored.add("status")
    old_rest = {k: v for k, v in old.items() if k not in ignored}
    new_rest = {k: v for k, v in new.items() if k not in ignored}
    return not same(old_rest, new_rest)


def check_finalizers(
    resource_type: ResourceType, live: dict[str, Any], new: dict[str, Any]
) -> None:
    """422 when finalizers are added to an object that is being deleted."""
    if "deletionTimestamp" not in live["metadata"]:
        return
    before = set(live["metadata"].get("finalizers") or [])
    added = set(new["metadata"].get("finalizers") or []) - before
    if added:
        raise StatusError(
            422,
            "Invalid",
            f'{resource_type.kind} "{live["metadata"]["name"]}" is invalid: metadata.finalizers: '
            "Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {sorted(added)}",
            {
                "name": live["metadata"]["name"],
                "kind": resource_type.kind,
                "causes": [{"reason": "FieldValueForbidden", "field": "metadata.finalizers"}],
            },
        )


def initial_status(resource_type: ResourceType, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status the API server gives a new object of a kind with a status subresource."""
    if resource_type.kind == "Namespace" and resource_type.builtin:
        return {"phase": "Active"}
    if resource_type.kind == "CustomResourceDefinition" and resource_type.builtin:
        storage = [v["name"] for v in obj.get("spec", {}).get("versions", []) if v.get("storage")]
        return {
            "acceptedNames": {"kind": "", "plural": ""},
            "conditions": [],
            "storedVersions": storage,
        }
    if resource_type.create_keeps_status:
        return copy(obj.get("status")) if "status" in obj else None
    return None


def strip_resource_version(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without `metadata.resourceVersion` (to compare two versions of an object)."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": metadata}
