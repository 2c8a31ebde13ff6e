"""What a request addresses and how: targets, write and delete options, list pages.

Plain values shared by `apiserver` (which acts on them), `deletion`, `server` (which parses
HTTP requests into them) and `cluster` (which builds them for in-process helpers).
"""

from __future__ import annotations

from dataclasses import dataclass

from function.testing.resources import ResourceType
from function.testing.store import Stored

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True, slots=True)
class Target:
    """What a request addresses: a resource at a version, a namespace, a name, a subresource."""

    resource_type: ResourceType
    version: str
    namespace: str | None = None  # None: all namespaces (lists of namespaced kinds)
    name: str | None = None
    subresource: str = ""

    @property
    def api_version(self) -> str:
        """``group/version`` of the request."""
        return self.resource_type.api_version(self.version)

    @property
    def object_namespace(self) -> str:
        """The namespace part of the object key ("" for cluster-scoped objects)."""
        return (self.namespace or "") if self.resource_type.namespaced else ""


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """Query parameters of a write."""

    field_manager: str
    dry_run: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """`DeleteOptions` of a delete: preconditions and propagation."""

    field_manager: str = ""
    dry_run: bool = False
    propagation_policy: str = "Background"
    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a list."""

    items: list[Stored]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None
