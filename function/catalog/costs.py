"""What one GPU of each product costs per hour: the table placement's cost preference reads.

The figures are typical on-demand list prices in USD of a single GPU, taken from the public
price lists of the large clouds; a fleet's real prices differ, so `function.placement.place`
takes overrides (the fleet file's ``gpuCostPerHour``, the reconciler's ``--gpu-costs``), which
win over this table product by product. `function.model.xr.GpuProduct` names the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from function.model.xr import GpuProduct

GPU_HOUR_COST: Mapping[GpuProduct, float] = MappingProxyType(
    {
        GpuProduct.T4: 0.35,
        GpuProduct.L4: 0.80,
        GpuProduct.A10G: 1.00,
        GpuProduct.L40S: 1.85,
        GpuProduct.A100_40GB: 2.90,
        GpuProduct.A100_80GB: 3.70,
        GpuProduct.H100_80GB: 6.90,
        GpuProduct.H200_141GB: 8.50,
    }
)
"""USD per GPU-hour of one whole GPU."""


def gpu_hour_costs(overrides: Mapping[GpuProduct, float] | None = None) -> dict[GpuProduct, float]:
    """The catalog table with ``overrides`` applied."""
    return {**GPU_HOUR_COST, **(overrides or {})}
