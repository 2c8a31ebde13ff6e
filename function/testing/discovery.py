"""Discovery documents (`/version`, `/api`, `/apis`, `/apis/<group>[/<version>]`).

Pure renderers over a `resources.Registry`: the shapes are those of kube-apiserver's
non-aggregated discovery (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`), which
is what the `kubernetes` client's typed APIs and `kubernetes.dynamic.DynamicClient` read. CRD
groups appear as soon as the CRD is stored, with the preferred version chosen by kube-aware
version priority as the apiextensions server does. `server` caches the encoded bytes per
registry generation.
"""

from __future__ import annotations

from typing import Any

from function.testing.resources import Registry, ResourceType

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
KUBERNETES_VERSION = {"major": "1", "minor": "34", "gitVersion": "v1.34.0-aifleet-emulator"}


def version_info() -> dict[str, Any]:
    """The `/version` document."""
    return {
        **KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    """The `/api` document."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list(registry: Registry) -> dict[str, Any]:
    """The `/apis` document: every named group with its served versions."""
    groups = registry.groups()
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, groups[name]) for name in sorted(groups) if name],
    }


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    """The `/apis/<group>` document, or None when the group is not served."""
    versions = registry.groups().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entries(resource_type: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": resource_type.plural,
        "singularName": resource_type.singular,
        "namespaced": resource_type.namespaced,
        "kind": resource_type.kind,
        "verbs": VERBS,
    }
    if resource_type.short_names:
        entry["shortNames"] = list(resource_type.short_names)
    if resource_type.categories:
        entry["categories"] = list(resource_type.categories)
    entries = [entry]
    if resource_type.status_subresource:
        entries.append(
            {
                "name": f"{resource_type.plural}/status",
                "singularName": "",
                "namespaced": resource_type.namespaced,
                "kind": resource_type.kind,
                "verbs": SUBRESOURCE_VERBS,
            }
        )
    return entries


def resource_list(registry: Registry, group_name: str, version: str) -> dict[str, Any] | None:
    """The `/api/v1` or `/apis/<group>/<version>` document, or None when not served."""
    served = [t for t in registry.types.values() if t.group == group_name and version in t.versions]
    if not served:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group_name}/{version}" if group_name else version,
        "resources": [
            entry
            for resource_type in sorted(served, key=lambda t: t.plural)
            for entry in _resource_entries(resource_type)
        ],
    }
