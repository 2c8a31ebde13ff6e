"""Health verdicts: the vocabulary of built-in checks and of user rules alike.

Sveltos' health words (`HealthStatus`), one object's `Verdict`, and the shape of a user rule
(`HealthRule`). `function.reconciler.health` judges objects with built-in checks per kind;
`function.lua.health` compiles an add-on's ``health.lua`` into a `HealthRule`. Both stand on
this module, so Lua rules need nothing of the reconciler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from function.model.objects import Object


class HealthStatus(StrEnum):
    """Sveltos' health vocabulary."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"  # paused on purpose (only user rules say so); not healthy


@dataclass(frozen=True, slots=True)
class Verdict:
    """The health of one object and, when not healthy, why."""

    status: HealthStatus
    message: str = ""

    @property
    def healthy(self) -> bool:
        """Whether dependants may proceed past this object."""
        return self.status is HealthStatus.HEALTHY


HEALTHY = Verdict(HealthStatus.HEALTHY)

HealthRule = Callable[[Sequence[Object]], Mapping[int, Verdict]]
"""A user rule: verdicts keyed by the index of the objects it has an opinion on."""
