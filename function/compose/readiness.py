"""Reading observed state: how far the Cluster API cluster and its add-on bundle have come.

The Cluster is read by `function.model.capi`, the one reading of Cluster API status the
reconciler shares (both versions, ``capi-gpu`` §1.2: available on ``Available`` (v1beta2) or
``Ready`` (v1beta1), never on ``phase`` alone). The bundle's readiness comes from the
per-add-on phases the reconciler writes into its status. `function.compose.status` turns both
into the XR's phase, conditions and events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from function.errors import SpecError
from function.model.bundle import READY_PHASES, AddonBundleStatus, AddonPhase
from function.model.capi import read_cluster_status
from function.model.common import parse


@dataclass(frozen=True)
class ClusterState:
    """What the observed Cluster says about itself."""

    observed: bool = False
    initialized: bool = False
    available: bool = False
    failed: bool = False
    deleting: bool = False
    paused: bool = False
    phase: str = ""
    message: str = ""


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


def cluster_state(cluster: Mapping[str, Any] | None) -> ClusterState:
    """Read the readiness of an observed Cluster API ``Cluster`` (v1beta1 or v1beta2)."""
    if not cluster:
        return ClusterState()
    status = read_cluster_status(cluster)
    return ClusterState(
        observed=True,
        initialized=status.control_plane_initialized,
        available=status.available,
        failed=status.failed,
        deleting=status.deleting,
        paused=status.paused,
        phase=status.phase,
        message=status.message,
    )


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
