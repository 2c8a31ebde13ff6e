"""What the sidecar's probes answer, kept apart from the HTTP server that serves them.

Readiness and liveness mean different things to the kubelet: a replica that is not ready is
taken out of rotation, one that is not live is restarted. So ``/readyz`` reports whether the
informers have synced — and, under leader election, whether this replica leads or stands by
(a standby is ready: it is doing what it should) — while ``/livez`` fails only when the work
loop has stalled: keys wait in the queue and every worker has held its key for longer than the
stall timeout, or the workers are gone. Restarting then is the cure; restarting a replica
that is merely waiting for its informers or for the Lease is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeAnswer:
    """An HTTP status and the one-line reason in its body."""

    status: int
    text: str


def readiness(*, electing: bool, leader: bool, synced: bool) -> ProbeAnswer:
    """``/readyz``: ready once synced; a standby is ready and says so."""
    if electing and not leader:
        return ProbeAnswer(200, "standby")
    if not synced:
        return ProbeAnswer(503, "informers not synced")
    return ProbeAnswer(200, "leader" if electing else "ok")


@dataclass
class WorkLoopWatch:
    """When each worker took the key it holds; answers ``/livez`` from that."""

    workers: int
    stall_timeout: float
    monotonic: Callable[[], float] = time.monotonic
    running: bool = False
    """Set once the workers have been started (a standby has none, and is live)."""
    exited: int = 0
    """Workers that have returned or died."""
    _held: dict[int, float] = field(default_factory=dict)

    def took(self, worker: int) -> None:
        """Worker ``worker`` took a key."""
        self._held[worker] = self.monotonic()

    def finished(self, worker: int) -> None:
        """Worker ``worker`` is done with its key."""
        self._held.pop(worker, None)

    def liveness(self, waiting: int) -> ProbeAnswer:
        """``/livez`` with ``waiting`` keys queued and not taken."""
        if not self.running:
            return ProbeAnswer(200, "ok")
        if self.exited >= self.workers:
            return ProbeAnswer(503, "stalled: every worker has exited")
        if waiting == 0 or len(self._held) < self.workers - self.exited:
            return ProbeAnswer(200, "ok")
        oldest = min(self._held.values())
        held_for = self.monotonic() - oldest
        if held_for <= self.stall_timeout:
            return ProbeAnswer(200, "ok")
        return ProbeAnswer(
            503,
            f"stalled: {waiting} keys waiting, every worker busy for over "
            f"{self.stall_timeout:g}s (longest {held_for:.0f}s)",
        )
