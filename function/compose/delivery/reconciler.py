"""Delivery by the companion reconciler: the one `AddonBundle`, as composed by
`function.compose.addons`, whose progress the reconciler writes into the bundle's status
(read by `function.compose.readiness`). The default `function.compose.delivery.mode.DeliveryMode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from function.compose import naming
from function.compose.delivery.mode import Delivered, DeliveryPlan, DeliveryTarget
from function.compose.providers.family import ClusterState
from function.compose.readiness import addons_state
from function.model.bundle import AddonSpec

OBSERVED_PREFIXES: Mapping[str, tuple[str, ...]] = {
    naming.BUNDLE_RESOURCE: ("metadata.generation", "status.observedGeneration", "status.clusters"),
}


class ReconcilerDelivery:
    """An AddonBundle for the sidecar."""

    observed_prefixes = OBSERVED_PREFIXES

    def plan(
        self, target: DeliveryTarget, bundle: dict[str, Any], addons: list[AddonSpec]
    ) -> DeliveryPlan:
        """The bundle, from the first run on."""
        return DeliveryPlan({naming.BUNDLE_RESOURCE: bundle}, always=(naming.BUNDLE_RESOURCE,))

    def progress(
        self,
        plan: DeliveryPlan,
        target: DeliveryTarget,
        cluster: ClusterState,
        observed: Mapping[str, Mapping[str, Any]],
        names: list[str],
    ) -> Delivered:
        """The reconciler's per-add-on phases for this cluster."""
        seen = addons_state(observed.get(naming.BUNDLE_RESOURCE), target.xr_name, names)
        body = plan.resources[naming.BUNDLE_RESOURCE]
        return Delivered({naming.BUNDLE_RESOURCE: (body, seen.all_ready)}, seen)
