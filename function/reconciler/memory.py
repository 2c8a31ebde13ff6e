"""What the reconciler remembers of each target between reconciles: one record per target.

A target's record (`Remembered`) holds its last status, the bundle generation it converged
for and the generation it last logged as finished; it is written whole after each converge
and dropped whole when the target goes, so nothing of a target outlives it. `StatusView`
shows the statuses alone, read-only, to the metrics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from function.model.bundlestatus import ClusterAddonsStatus
from function.reconciler.keys import TargetKey


@dataclass(frozen=True)
class Remembered:
    """What a target's last converge found."""

    status: ClusterAddonsStatus
    generation: int
    """The bundle generation it converged for."""
    finished: int
    """The generation it last logged as finished applying (-1: not finished)."""


class StatusView(Mapping[TargetKey, ClusterAddonsStatus]):
    """The remembered statuses, read-only."""

    def __init__(self, memory: Mapping[TargetKey, Remembered]) -> None:
        self._memory = memory

    def __getitem__(self, key: TargetKey) -> ClusterAddonsStatus:
        return self._memory[key].status

    def __iter__(self) -> Iterator[TargetKey]:
        return iter(self._memory)

    def __len__(self) -> int:
        return len(self._memory)
