"""Which objects of a workload cluster a rule sees: Sveltos' ``resourceSelectors``.

A Sveltos HealthCheck or EventSource names the objects its Lua script looks at with selectors
(group, version, kind, namespace, name, label filters); the script is written for those
objects only. These are pure models: `function.lua.health` and `function.lua.events` narrow
what their scripts see with them, `function.model.events` embeds them in EventSource, and the
reconciler's event watches (`function.reconciler.eventwatch`) list the selected kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field

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

    def selects_kind(self, api_version: str, kind: str) -> bool:
        """Whether objects of ``api_version``/``kind`` are of the selected kind."""
        group, _, version = api_version.rpartition("/")
        if kind != self.kind or group != self.group:
            return False
        return not self.version or version == self.version

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is one of the selected objects."""
        if not self.selects_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))):
            return False
        metadata: Mapping[str, Any] = obj.get("metadata") or {}
        if self.namespace and metadata.get("namespace", "") != self.namespace:
            return False
        if self.name and metadata.get("name") != self.name:
            return False
        labels = metadata.get("labels") or {}
        return all(f.matches(labels) for f in self.label_filters)


def selected(obj: Mapping[str, Any], selectors: tuple[ResourceSelector, ...]) -> bool:
    """Whether any selector selects ``obj``; no selectors select everything."""
    return not selectors or any(s.matches(obj) for s in selectors)
