"""Reading observed state: how far the add-on bundle has come.

The cluster objects are read by their provider family (`function.compose.providers`); the
bundle's readiness comes from the per-add-on phases the reconciler writes into its status.
`function.compose.status` turns both into the XR's phase, conditions and events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from function.errors import SpecError
from function.model.bundlestatus import READY_PHASES, AddonBundleStatus, AddonPhase
from function.model.common import parse


@dataclass(frozen=True)
class AddonsState:
    """Progress of the bundle's add-ons on the cluster."""

    total: int
    ready: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    """(add-on, message) of every add-on whose last attempt failed."""
    current: bool = False
    """Whether the reconciler has seen the bundle's latest generation."""

    @property
    def all_ready(self) -> bool:
        """Every add-on is applied and healthy, for the latest bundle."""
        return self.current and len(self.ready) == self.total

    def pending(self, names: list[str]) -> list[str]:
        """The add-ons among ``names`` that are not ready, in bundle order."""
        return [name for name in names if name not in self.ready]


def addons_state(
    bundle: Mapping[str, Any] | None, cluster_name: str, names: list[str]
) -> AddonsState:
    """Read the observed AddonBundle's status for ``cluster_name``'s add-ons among ``names``."""
    if not bundle or not bundle.get("status"):
        return AddonsState(total=len(names))
    try:
        status = parse(AddonBundleStatus, bundle["status"], root="status")
    except SpecError:
        return AddonsState(total=len(names))  # a status we cannot read tells us nothing
    generation = (bundle.get("metadata") or {}).get("generation")
    current = (
        generation is None
        or status.observed_generation is None
        or status.observed_generation >= generation
    )
    entry = next((c for c in status.clusters if c.cluster_ref.name == cluster_name), None)
    if entry is None:
        return AddonsState(total=len(names), current=current)
    wanted = set(names)
    return AddonsState(
        total=len(names),
        ready=tuple(a.name for a in entry.addons if a.name in wanted and a.phase in READY_PHASES),
        failed=tuple(
            (a.name, a.message or "failed")
            for a in entry.addons
            if a.name in wanted and a.phase is AddonPhase.FAILED
        ),
        current=current,
    )
