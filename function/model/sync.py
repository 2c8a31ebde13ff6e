"""Sync modes: how the reconciler keeps a bundle's add-ons, and what each mode has it do.

A bundle names its mode (``syncMode``, as Sveltos' profiles do); the reconciler reads the
mode's `SyncPolicy` from the parsed bundle (`AddonBundleSpec.policy`) rather than testing the
mode where the answer matters. The one default, `DEFAULT_SYNC_MODE`, serves bundles,
EventTriggers and the function's Input alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SyncMode(StrEnum):
    """How the reconciler keeps a bundle's add-ons in the workload cluster (Sveltos' modes)."""

    ONE_TIME = "OneTime"
    CONTINUOUS = "Continuous"
    CONTINUOUS_WITH_DRIFT_DETECTION = "ContinuousWithDriftDetection"
    DRY_RUN = "DryRun"


DEFAULT_SYNC_MODE = SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION
"""The sync mode of a bundle, trigger or Input that names none: the one default."""


@dataclass(frozen=True)
class SyncPolicy:
    """What a sync mode means for the reconciler, decided once per mode.

    The reconciler asks the bundle's policy (`AddonBundleSpec.policy`) rather than testing
    the mode wherever the answer matters.
    """

    mode: SyncMode
    writes: bool
    """Applies, prunes and withdraws objects in the workload cluster; False (DryRun): plans
    what applying would do, writing nothing."""
    follows_dependencies: bool
    """An add-on waits for its dependencies to be healthy; False (DryRun): every add-on is
    planned at once, since nothing it depends on will be applied."""
    reapplies: bool
    """A done add-on whose inputs change is rendered and applied again; False (OneTime): it
    stays as first applied."""
    watches_drift: bool
    """Applied objects are watched and checked for drift, and drift is taken back."""
    tolerates_unknown: bool
    """Objects of kinds the cluster does not serve yet are planned rather than refused (a
    dry run, where another add-on's CRD would define them)."""


SYNC_POLICIES: dict[SyncMode, SyncPolicy] = {
    SyncMode.ONE_TIME: SyncPolicy(
        SyncMode.ONE_TIME,
        writes=True,
        follows_dependencies=True,
        reapplies=False,
        watches_drift=False,
        tolerates_unknown=False,
    ),
    SyncMode.CONTINUOUS: SyncPolicy(
        SyncMode.CONTINUOUS,
        writes=True,
        follows_dependencies=True,
        reapplies=True,
        watches_drift=False,
        tolerates_unknown=False,
    ),
    SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION: SyncPolicy(
        SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION,
        writes=True,
        follows_dependencies=True,
        reapplies=True,
        watches_drift=True,
        tolerates_unknown=False,
    ),
    SyncMode.DRY_RUN: SyncPolicy(
        SyncMode.DRY_RUN,
        writes=False,
        follows_dependencies=False,
        reapplies=True,
        watches_drift=False,
        tolerates_unknown=True,
    ),
}
"""Every sync mode's policy."""

SYNC_MODE_DESCRIPTION = (
    "How add-ons are kept: OneTime applies each once, Continuous re-applies on change, "
    "ContinuousWithDriftDetection (the default) also watches applied objects and takes drift "
    "back, DryRun writes nothing and reports what applying would change."
)
