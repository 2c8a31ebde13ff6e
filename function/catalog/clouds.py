"""The cloud machine table: which instance type, machine type or VM size carries each GPU
product, per cloud and region class.

`OFFERS[provider][region class][product]` lists the machines of that product by GPUs per
node. A region's class comes from its name (`region_class`): AWS GovCloud and China regions
and Azure's government and China clouds are *sovereign* partitions, where the table offers only
the older GPU generations; every other region is *commercial*. `machine` picks the machine for
a pool's product and GPUs per node, or says what the cloud does offer — the message a FATAL
result carries. The modules ``eks``, ``gke`` and ``aks`` of `function.compose.providers` read
it; the GPU memory and labels stay in `function.catalog.gpus`. Adding a cloud means adding its
rows here and its family module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from function.model.xr import GpuProduct, Provider


class RegionClass(StrEnum):
    """What GPU generations a cloud's regions of one kind carry."""

    COMMERCIAL = "commercial"
    SOVEREIGN = "sovereign"


@dataclass(frozen=True)
class Machine:
    """One machine of a cloud with a GPU product attached."""

    name: str
    """Instance type (EKS), machine type (GKE) or VM size (AKS)."""
    gpus: int
    """GPUs of the product on one machine."""
    accelerator: str = ""
    """GKE's accelerator type (``nvidia-h100-80gb``); empty elsewhere."""


def _aws(*machines: tuple[str, int]) -> tuple[Machine, ...]:
    return tuple(Machine(name, gpus) for name, gpus in machines)


def _gcp(accelerator: str, *machines: tuple[str, int]) -> tuple[Machine, ...]:
    return tuple(Machine(name, gpus, accelerator) for name, gpus in machines)


_AWS = {
    GpuProduct.T4: _aws(("g4dn.xlarge", 1), ("g4dn.12xlarge", 4), ("g4dn.metal", 8)),
    GpuProduct.A10G: _aws(("g5.xlarge", 1), ("g5.12xlarge", 4), ("g5.48xlarge", 8)),
    GpuProduct.L4: _aws(("g6.xlarge", 1), ("g6.12xlarge", 4), ("g6.48xlarge", 8)),
    GpuProduct.L40S: _aws(("g6e.xlarge", 1), ("g6e.12xlarge", 4), ("g6e.48xlarge", 8)),
    GpuProduct.A100_40GB: _aws(("p4d.24xlarge", 8)),
    GpuProduct.A100_80GB: _aws(("p4de.24xlarge", 8)),
    GpuProduct.H100_80GB: _aws(("p5.4xlarge", 1), ("p5.48xlarge", 8)),
    GpuProduct.H200_141GB: _aws(("p5en.48xlarge", 8)),
}
_GCP = {
    GpuProduct.T4: _gcp(
        "nvidia-tesla-t4", ("n1-standard-8", 1), ("n1-standard-32", 2), ("n1-standard-64", 4)
    ),
    GpuProduct.L4: _gcp(
        "nvidia-l4",
        ("g2-standard-8", 1),
        ("g2-standard-24", 2),
        ("g2-standard-48", 4),
        ("g2-standard-96", 8),
    ),
    GpuProduct.A100_40GB: _gcp(
        "nvidia-tesla-a100",
        ("a2-highgpu-1g", 1),
        ("a2-highgpu-2g", 2),
        ("a2-highgpu-4g", 4),
        ("a2-highgpu-8g", 8),
    ),
    GpuProduct.A100_80GB: _gcp(
        "nvidia-a100-80gb",
        ("a2-ultragpu-1g", 1),
        ("a2-ultragpu-2g", 2),
        ("a2-ultragpu-4g", 4),
        ("a2-ultragpu-8g", 8),
    ),
    GpuProduct.H100_80GB: _gcp("nvidia-h100-80gb", ("a3-highgpu-8g", 8)),
    GpuProduct.H200_141GB: _gcp("nvidia-h200-141gb", ("a3-ultragpu-8g", 8)),
}
_AZURE = {
    GpuProduct.T4: _aws(("Standard_NC4as_T4_v3", 1), ("Standard_NC64as_T4_v3", 4)),
    GpuProduct.A100_40GB: _aws(("Standard_ND96asr_v4", 8)),
    GpuProduct.A100_80GB: _aws(
        ("Standard_NC24ads_A100_v4", 1),
        ("Standard_NC48ads_A100_v4", 2),
        ("Standard_NC96ads_A100_v4", 4),
        ("Standard_ND96amsr_A100_v4", 8),
    ),
    GpuProduct.H100_80GB: _aws(("Standard_ND96isr_H100_v5", 8)),
    GpuProduct.H200_141GB: _aws(("Standard_ND96isr_H200_v5", 8)),
}
_OLDER = (GpuProduct.T4, GpuProduct.A10G, GpuProduct.A100_40GB)
"""The generations the table offers in sovereign regions."""


def _only(table: Mapping[GpuProduct, tuple[Machine, ...]]) -> dict[GpuProduct, tuple[Machine, ...]]:
    return {product: machines for product, machines in table.items() if product in _OLDER}


OFFERS: Mapping[Provider, Mapping[RegionClass, Mapping[GpuProduct, tuple[Machine, ...]]]] = (
    MappingProxyType(
        {
            Provider.EKS: {RegionClass.COMMERCIAL: _AWS, RegionClass.SOVEREIGN: _only(_AWS)},
            Provider.GKE: {RegionClass.COMMERCIAL: _GCP},
            Provider.AKS: {RegionClass.COMMERCIAL: _AZURE, RegionClass.SOVEREIGN: _only(_AZURE)},
        }
    )
)

CLOUD_NAMES: Mapping[Provider, str] = MappingProxyType(
    {Provider.EKS: "AWS", Provider.GKE: "Google Cloud", Provider.AKS: "Azure"}
)
_SOVEREIGN_PREFIXES: Mapping[Provider, tuple[str, ...]] = MappingProxyType(
    {
        Provider.EKS: ("us-gov-", "cn-"),
        Provider.AKS: ("usgov", "usdod", "china"),
    }
)


def region_class(provider: Provider, region: str) -> RegionClass:
    """The class of a region by its name: ``us-gov-west-1`` is sovereign, ``eu-west-1`` not."""
    if region.startswith(_SOVEREIGN_PREFIXES.get(provider, ())):
        return RegionClass.SOVEREIGN
    return RegionClass.COMMERCIAL


class NotOfferedError(LookupError):
    """The cloud has no machine for the product (or not with that many GPUs per node)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
        """The GPU field at fault: ``product`` or ``perNode``."""


def machine(provider: Provider, region: str, product: GpuProduct, per_node: int) -> Machine:
    """The machine carrying ``per_node`` GPUs of ``product``; `NotOfferedError` saying what the
    cloud offers in that region class otherwise."""
    klass = region_class(provider, region)
    offers = OFFERS[provider][klass]
    cloud = CLOUD_NAMES[provider]
    where = f"{cloud} ({klass.value} regions such as {region!r})"
    machines = offers.get(product)
    if not machines:
        offered = ", ".join(p.value for p in offers)
        raise NotOfferedError(f"{where} offers no {product.value}; it offers: {offered}", "product")
    found = next((m for m in machines if m.gpus == per_node), None)
    if found is None:
        sizes = ", ".join(f"{m.gpus} ({m.name})" for m in machines)
        raise NotOfferedError(
            f"{where} offers {product.value} with these GPUs per node: {sizes}; not {per_node}",
            "perNode",
        )
    return found
