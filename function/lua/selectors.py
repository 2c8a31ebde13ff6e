"""Which objects a Lua rule sees: Sveltos' ``resourceSelectors``.

A Sveltos HealthCheck names the objects its script judges with selectors (group, version,
kind, namespace, name, label filters); the script is written for those objects only. A
`function.lua.health.LuaHealthRule` built with selectors passes its script the matching objects
and has no opinion on the rest. `function.lua.casetest` reads selectors from
``healthcheck.yaml`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field

from function.kube.client import group_of
from function.model.common import Spec


class LabelOperation(StrEnum):
    """How a label filter compares (Sveltos' ``labelFilters[].operation``)."""

    EQUAL = "Equal"
    DIFFERENT = "Different"
    HAS = "Has"
    DOES_NOT_HAVE = "DoesNotHave"


class LabelFilter(Spec):
    """One condition on an object's labels."""

    key: str = Field(min_length=1, description="The label key.")
    operation: LabelOperation = Field(description="Equal, Different, Has or DoesNotHave.")
    value: str = Field(default="", description="The value for Equal and Different.")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this filter."""
        match self.operation:
            case LabelOperation.EQUAL:
                return labels.get(self.key) == self.value
            case LabelOperation.DIFFERENT:
                return labels.get(self.key) != self.value
            case LabelOperation.HAS:
                return self.key in labels
            case LabelOperation.DOES_NOT_HAVE:
                return self.key not in labels


class ResourceSelector(Spec):
    """Objects of one kind, optionally narrowed by namespace, name and labels."""

    group: str = Field(default="", description="API group ('' for the core group).")
    version: str = Field(default="", description="API version; any when empty.")
    kind: str = Field(min_length=1, description="Kind.")
    namespace: str = Field(default="", description="Namespace; any when empty.")
    name: str = Field(default="", description="Object name; any when empty.")
    label_filters: tuple[LabelFilter, ...] = Field(
        default=(), description="Label conditions, all of which must hold."
    )

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is one of the selected objects."""
        api_version = str(obj.get("apiVersion", ""))
        metadata: Mapping[str, Any] = obj.get("metadata") or {}
        if obj.get("kind") != self.kind or group_of(api_version) != self.group:
            return False
        if self.version and api_version.rpartition("/")[2] != self.version:
            return False
        if self.namespace and metadata.get("namespace", "") != self.namespace:
            return False
        if self.name and metadata.get("name") != self.name:
            return False
        labels = metadata.get("labels") or {}
        return all(f.matches(labels) for f in self.label_filters)


def selected(obj: Mapping[str, Any], selectors: tuple[ResourceSelector, ...]) -> bool:
    """Whether any selector selects ``obj``; no selectors select everything."""
    return not selectors or any(s.matches(obj) for s in selectors)
