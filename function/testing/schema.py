"""How lists and maps merge: the slice of a structural schema that SSA and SMP need.

kube-apiserver merges with the OpenAPI schema of each kind: lists are *atomic* (replaced whole),
*sets* of scalars, or *maps* keyed by some fields of their items; maps are *granular* unless
marked atomic. The emulator carries no OpenAPI document for built-in kinds; `BuiltinNode`
approximates it by field name (`containers`, `env`, `volumes`, ... by `name`; container `ports`
by `containerPort`+`protocol`, Service `ports` by `port`+`protocol`; `conditions` by `type`;
`metadata.finalizers` a set; label selectors atomic; every other list atomic). Custom resources
use their CRD's `x-kubernetes-list-type` / `-list-map-keys` / `-map-type` (`OpenAPINode`), with
`conditions` keyed by `type` when the CRD says nothing. `managed_fields`, `ssa` and `patches`
walk objects alongside these nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from function.testing.resources import ResourceType


@dataclass(frozen=True, slots=True)
class ListType:
    """How a list merges: ``atomic``, a ``set`` of scalars, or a ``map`` keyed by ``keys``."""

    relation: Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()


ATOMIC = ListType("atomic")
SET = ListType("set")
KEY_DEFAULTS = {"protocol": "TCP"}  # defaulted key fields, as the API server defaults them


class SchemaNode(Protocol):
    """A position in an object's schema."""

    @property
    def list_type(self) -> ListType:
        """How the list at this position merges."""
        ...

    @property
    def atomic_map(self) -> bool:
        """Whether the map at this position is replaced whole."""
        ...

    def field(self, name: str) -> SchemaNode:
        """The schema of a child field."""
        ...

    def item(self) -> SchemaNode:
        """The schema of list items."""
        ...


_BY_NAME = {
    "containers": ListType("map", ("name",)),
    "initContainers": ListType("map", ("name",)),
    "ephemeralContainers": ListType("map", ("name",)),
    "volumes": ListType("map", ("name",)),
    "env": ListType("map", ("name",)),
    "imagePullSecrets": ListType("map", ("name",)),
    "resourceClaims": ListType("map", ("name",)),
    "volumeMounts": ListType("map", ("mountPath",)),
    "volumeDevices": ListType("map", ("devicePath",)),
    "conditions": ListType("map", ("type",)),
    "ownerReferences": ListType("map", ("uid",)),
    "hostAliases": ListType("map", ("ip",)),
    "podIPs": ListType("map", ("ip",)),
    "hostIPs": ListType("map", ("ip",)),
    "topologySpreadConstraints": ListType("map", ("topologyKey", "whenUnsatisfiable")),
    "finalizers": SET,
}
_CONTAINER_ITEMS = {"containers[]", "initContainers[]", "ephemeralContainers[]"}
_ATOMIC_MAPS = {"selector", "nodeSelector", "podSelector", "namespaceSelector", "labelSelector"}


@dataclass(frozen=True, slots=True)
class BuiltinNode:
    """Schema of built-in kinds (and of every `metadata`), decided by field name and parent."""

    name: str = ""
    parent: str = ""

    @property
    def list_type(self) -> ListType:
        """See the module docstring for the rules."""
        if self.name == "ports":
            if self.parent in _CONTAINER_ITEMS:
                return ListType("map", ("containerPort", "protocol"))
            return ListType("map", ("port", "protocol"))
        if self.name == "addresses" and self.parent == "status":
            return ListType("map", ("type",))
        return _BY_NAME.get(self.name, ATOMIC)

    @property
    def atomic_map(self) -> bool:
        """Label selectors and node selectors are atomic."""
        return self.name in _ATOMIC_MAPS

    def field(self, name: str) -> BuiltinNode:
        """The child field."""
        return BuiltinNode(name, self.name)

    def item(self) -> BuiltinNode:
        """List items."""
        return BuiltinNode(f"{self.name}[]", self.parent)


@dataclass(frozen=True, slots=True)
class OpenAPINode:
    """Schema of a custom resource, read from its CRD's `openAPIV3Schema`."""

    schema: Mapping[str, Any]
    name: str = ""
    root: bool = False

    @property
    def list_type(self) -> ListType:
        """From `x-kubernetes-list-type`; `conditions` default to a map keyed by `type`."""
        declared = self.schema.get("x-kubernetes-list-type")
        if declared == "map":
            return ListType("map", tuple(self.schema.get("x-kubernetes-list-map-keys") or ()))
        if declared == "set":
            return SET
        if declared is None and self.name == "conditions":
            return ListType("map", ("type",))
        return ATOMIC

    @property
    def atomic_map(self) -> bool:
        """From `x-kubernetes-map-type: atomic`."""
        return self.schema.get("x-kubernetes-map-type") == "atomic"

    def field(self, name: str) -> SchemaNode:
        """The child field; `metadata` at the root follows the built-in rules."""
        if self.root and name == "metadata":
            return BuiltinNode("metadata")
        properties = self.schema.get("properties") or {}
        child = properties.get(name)
        if child is None:
            additional = self.schema.get("additionalProperties")
            child = additional if isinstance(additional, Mapping) else {}
        return OpenAPINode(child, name)

    def item(self) -> SchemaNode:
        """List items."""
        return OpenAPINode(self.schema.get("items") or {}, f"{self.name}[]")


def root_schema(resource_type: ResourceType, version: str) -> SchemaNode:
    """The schema at the root of an object of this type and version."""
    if resource_type.builtin:
        return BuiltinNode()
    schema = resource_type.schemas.get(version) or {}
    return OpenAPINode(schema, root=True)


def item_key(item: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The key fields of a map-list item (defaults filled in), or None when one is missing."""
    if not isinstance(item, Mapping):
        return None
    key: dict[str, Any] = {}
    for name in keys:
        value = item.get(name, KEY_DEFAULTS.get(name))
        if value is None:
            return None
        key[name] = value
    return key
