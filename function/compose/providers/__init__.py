"""Provider families: one module per way of provisioning a cluster, chosen by ``spec.provider``.

`FAMILIES` is the table `function.compose.pipeline` picks from, the way
`function.compose.serving.SERVING` is picked by runtime. Each entry implements
`function.compose.providers.family.ProviderFamily`; adding a family means adding its module
and its row here (and, for a cloud, its machine table in `function.catalog`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from function.compose.providers.aks import AksFamily
from function.compose.providers.capi import CapiFamily
from function.compose.providers.eks import EksFamily
from function.compose.providers.family import (
    ClusterPlan,
    ClusterRequest,
    ClusterState,
    ProviderFamily,
)
from function.compose.providers.gke import GkeFamily
from function.model.xr import Provider

FAMILIES: Mapping[Provider, ProviderFamily] = MappingProxyType(
    {
        Provider.CAPI: CapiFamily(),
        Provider.EKS: EksFamily(),
        Provider.GKE: GkeFamily(),
        Provider.AKS: AksFamily(),
    }
)


__all__ = [
    "FAMILIES",
    "ClusterPlan",
    "ClusterRequest",
    "ClusterState",
    "ProviderFamily",
]
