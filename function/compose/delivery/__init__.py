"""Add-on delivery modes, chosen by the Input's ``delivery``.

`DELIVERY` is the table `function.compose.pipeline` picks from, the way
`function.compose.providers.FAMILIES` is picked by provider: the companion reconciler's
AddonBundle (`reconciler`, the default), Crossplane's provider-helm and provider-kubernetes
(`crossplane`), or Sveltos profiles (`sveltos`). Each implements
`function.compose.delivery.mode.DeliveryMode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from function.compose.delivery.crossplane import CrossplaneDelivery
from function.compose.delivery.mode import Delivered, DeliveryMode, DeliveryPlan, DeliveryTarget
from function.compose.delivery.reconciler import ReconcilerDelivery
from function.compose.delivery.sveltos import SveltosDelivery
from function.model.input import Delivery

DELIVERY: Mapping[Delivery, DeliveryMode] = MappingProxyType(
    {
        Delivery.RECONCILER: ReconcilerDelivery(),
        Delivery.CROSSPLANE: CrossplaneDelivery(),
        Delivery.SVELTOS: SveltosDelivery(),
    }
)


__all__ = [
    "DELIVERY",
    "Delivered",
    "DeliveryMode",
    "DeliveryPlan",
    "DeliveryTarget",
]
