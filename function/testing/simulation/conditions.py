"""Status conditions as controllers maintain them, and a base class for one-kind rules.

`set_condition` replaces the condition of one type and keeps its `lastTransitionTime` when its
status did not change, so that a simulated controller reconciling twice writes nothing the
second time. `KindRule` is the shape most rules share: react to writes of one kind, compute the
status its controller would publish, write it if it differs. Used by `workloads`,
`extensions` and `capi`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from function.testing.objects import now
from function.testing.resources import ResourceType
from function.testing.simulation.engine import lookup, objects_of, ref_of, write_status
from function.testing.store import Event, ObjectRef

if TYPE_CHECKING:
    from function.testing.apiserver import ApiServer
    from function.testing.simulation.engine import RuleContext


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str = "",
    **extra: Any,
) -> list[dict[str, Any]]:
    """``conditions`` with the condition ``type_`` set (appended when new)."""
    wanted: dict[str, Any] = {"type": type_, "status": "True" if status else "False"}
    wanted.update(extra)
    wanted["reason"] = reason
    wanted["message"] = message
    result = [dict(c) for c in conditions or []]
    for index, current in enumerate(result):
        if current.get("type") != type_:
            continue
        unchanged = all(current.get(k) == v for k, v in wanted.items())
        if unchanged:
            return result
        same_status = current.get("status") == wanted["status"]
        since = current.get("lastTransitionTime") if same_status else None
        result[index] = {**wanted, "lastTransitionTime": since or now()}
        return result
    result.append({**wanted, "lastTransitionTime": now()})
    return result


def condition_true(obj: dict[str, Any], type_: str) -> bool:
    """Whether ``status.conditions`` holds ``type_`` with status True."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return bool(condition.get("status") == "True")
    return False


def deleting(obj: dict[str, Any]) -> bool:
    """Whether the object has a deletionTimestamp."""
    return "deletionTimestamp" in obj["metadata"]


class KindRule:
    """A rule that publishes the status of objects of one kind."""

    name = ""
    group = ""
    kind = ""
    manager = ""

    def handles(self, resource_type: ResourceType, obj: dict[str, Any]) -> bool:
        """Whether this rule owns the status of an object."""
        return resource_type.group == self.group and resource_type.kind == self.kind

    def targets(
        self, api: ApiServer, resource_type: ResourceType, event: Event
    ) -> Iterable[ObjectRef]:
        """The written object itself, unless it was deleted."""
        if event.type != "DELETED" and self.handles(resource_type, event.obj.obj):
            yield ref_of(resource_type, event.obj)

    def resync(self, api: ApiServer) -> Iterable[ObjectRef]:
        """Every object of the kind."""
        for resource_type, stored in self.candidates(api):
            if self.handles(resource_type, stored.obj):
                yield ref_of(resource_type, stored)

    def candidates(self, api: ApiServer) -> Iterable[tuple[ResourceType, Any]]:
        """Objects worth checking on resync."""
        return objects_of(api, self.group, self.kind)

    async def reconcile(self, context: RuleContext, ref: ObjectRef) -> None:
        """Write the status `desired_status` computes, if it changed."""
        found = lookup(context.api, ref)
        if found is None or deleting(found[1].obj):
            return
        resource_type, stored = found
        status = self.desired_status(context.api, stored.obj)
        if status is not None:
            write_status(context.api, resource_type, stored, status, self.manager)

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The status to publish, or None to leave the object alone."""
        raise NotImplementedError
