"""The shapes of a DryRun plan in an AddonBundle's status, and the limits that keep it small.

A DryRun lists, per add-on and cluster, what applying would do to each object (Sveltos'
ClusterReport actions). A bundle of thousands of objects, or an object whose every field would
change, must not make the status outgrow what the API server stores (etcd refuses objects
over 1.5 MiB): a plan lists at most `MAX_PLAN_ENTRIES` objects and `MAX_PLAN_BYTES` of them
per add-on, and the whole status at most `MAX_STATUS_PLAN_BYTES`; what is not listed is
counted per action in `PlanTruncation`. The cutting itself is in `function.reconciler.plan`.
"""

from __future__ import annotations

from enum import StrEnum

from function.model.common import Spec

MAX_PLAN_ENTRIES = 100
"""Objects listed in one add-on's plan on one cluster; the rest are counted."""
MAX_PLAN_BYTES = 64 * 1024
"""JSON bytes of one add-on's listed plan on one cluster."""
MAX_STATUS_PLAN_BYTES = 512 * 1024
"""JSON bytes of every listed plan in a bundle's status, over all its clusters."""
MAX_DIFF_LINES = 20
"""Changed fields listed per object; the rest are counted in a last line."""
MAX_DIFF_PATH_CHARS = 120
"""Characters of the path of one diff line (a longer one is cut in its middle)."""
MAX_DIFF_VALUE_CHARS = 80
"""Characters of each value of one diff line (a longer one is cut at its end)."""
MAX_DIFF_LINE_CHARS = 300
"""Characters of one diff line: a path, two values and the signs between them."""
MAX_MESSAGE_CHARS = 500
"""Characters of one object's message (a conflict naming many fields)."""


class PlanAction(StrEnum):
    """What applying would do to one object (Sveltos' ClusterReport actions)."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    CONFLICT = "Conflict"
    NO_ACTION = "No Action"


class PlannedChange(Spec):
    """One object of a DryRun plan."""

    action: PlanAction
    object: str
    """``Deployment apps/op``."""
    diff: list[str] | None = None
    """Update: each field that would change, ``/spec/replicas: 1 -> 3`` (Secret values are
    never shown)."""
    message: str | None = None
    """Conflict: who manages the object, or which fields another field manager owns."""


class PlanTruncation(Spec):
    """The marker of a plan listing only part of its objects, with the counts of the rest."""

    total: int
    """Objects in the plan."""
    listed: int
    """Objects listed in ``plan``: conflicts, deletions, updates, creations, then No Action,
    as long as the limits allow."""
    create: int = 0
    update: int = 0
    delete: int = 0
    conflict: int = 0
    no_action: int = 0
