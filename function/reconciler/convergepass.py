"""What one converge pass knows about its bundle and cluster.

The converger builds one `TargetPass` per `TargetKey` reconcile and hands it to each step of
the pass (`function.reconciler.rendering` reads and renders with it, the converger applies,
plans and judges health with it); it lives only as long as the pass, while what outlives it
is in the target's record (``memory``, `function.reconciler.memory`). A step that judges an
add-on returns a `Step`: its status and how soon it wants to be looked at again, which the
converger folds into the target's `Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from function.kube.client import KubeClient
from function.model.bundle import AddonBundleSpec
from function.model.bundlestatus import AddonStatus
from function.model.objects import Object, meta
from function.reconciler.apply import Owner
from function.reconciler.chartaccess import RepositoryAccess
from function.reconciler.keys import TargetKey
from function.reconciler.memory import Remembered
from function.reconciler.templates import TemplateContext


class Step(NamedTuple):
    """An add-on's status after a step, and the seconds until it wants another look (None:
    nothing sooner than the target's own pace)."""

    status: AddonStatus
    again: float | None = None


def soonest(*times: float | None) -> float | None:
    """The earliest of ``times`` that are set (None when none is)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


@dataclass
class TargetPass:
    """What one converge pass knows about its bundle and cluster."""

    bundle: Object
    spec: AddonBundleSpec
    client: KubeClient
    context: TemplateContext
    previous: dict[str, AddonStatus]
    now: str
    key: TargetKey
    memory: Remembered
    """What is kept of the target between passes."""
    gpu_capacity: bool | None = None
    check_drift: bool = False
    repaired: int = 0
    access: dict[str, RepositoryAccess | None] = field(default_factory=dict)
    """Per add-on, how its chart repository is reached (read before its chart is fetched)."""

    @property
    def namespace(self) -> str:
        return str(meta(self.bundle)["namespace"])

    def owner(self, addon: str) -> Owner:
        return Owner(self.namespace, str(meta(self.bundle)["name"]), addon)
