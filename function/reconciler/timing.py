"""How soon the reconciler looks again: the pauses and thresholds it paces targets by.

`Timing` holds the reconciler's knobs for time: between health checks of an add-on that is
not healthy yet, drift checks, status writes, probes of a Down workload cluster and retries
of chart credentials. `function.reconciler.converge` paces every target by it; it is part of
the reconciler's settings (`function.reconciler.app`), and the demo and tests shorten it. It
stands alone so that those who only choose the pauses need not import the converger.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """How soon to look again at a target that is not done."""

    waiting: float = 5.0
    """Longest pause between health checks of an add-on that is not healthy yet; the first
    checks come sooner (0.1 s, doubling), as most objects are ready in moments."""
    gpu: float = 10.0
    """An add-on waiting for GPU capacity (Nodes are not watched)."""
    drift: float = 300.0
    """Between drift checks of a target in ContinuousWithDriftDetection mode that no watch
    asked for: the safety net for a missed event (watched drift is checked at once)."""
    drift_watch: bool = True
    """Watch the applied kinds for drift; False leaves drift to the periodic check alone
    (no watch connections to workload clusters)."""
    status: float = 0.2
    """A target's change reaches its bundle's status within this, with the others of the
    moment: targets often move in quick steps, and each status write is an API write."""
    down_after: int = 3
    """Connection failures in a row after which a workload cluster is Down."""
    reconnect: float = 30.0
    """Longest pause between probes of a Down cluster (from 1 s, doubling)."""
    credentials: float = 60.0
    """An add-on whose chart credentials or TLS failed: its Secret (not watched: Secrets are
    read only where referenced) is read and the repository tried again this often."""
