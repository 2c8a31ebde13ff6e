"""The GPU table: memory, node labels, machine size and MIG profiles per GPU product.

Memory figures are what GPU feature discovery reports in ``nvidia.com/gpu.memory`` (MiB); the
product label is GFD's ``nvidia.com/gpu.product``. `function.compose.sizing` divides models
over these GPUs; `function.compose.providers` turns them into node-pool labels and autoscaler
capacity annotations. `function.model.xr.GpuProduct` enumerates the same keys (a test checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from function.model.xr import GpuProduct

MIB_PER_GB = 1000**3 / 1024**2
"""A MIG profile names its memory in decimal GB; GFD reports MiB."""


@dataclass(frozen=True)
class Gpu:
    """One GPU product as the scheduler and the sizing see it."""

    product: GpuProduct
    label: str
    """Value of GFD's ``nvidia.com/gpu.product`` label."""
    memory_mib: int
    """Value of GFD's ``nvidia.com/gpu.memory`` label."""
    per_node: int
    """GPUs in the usual machine of this product (e.g. 8 for an H100 node)."""
    mig_profiles: tuple[str, ...] = field(default=())
    """MIG profiles the product can be partitioned into, the whole-GPU one last; empty when
    it has no MIG."""

    def mig_devices(self, profile: str) -> int:
        """How many devices a GPU is partitioned into with one profile: ``2g.20gb`` → 3.

        Both the compute slices (seven) and the memory slices (eight) limit it, so the
        double-memory ``1g.20gb`` of an 80 GB GPU yields four devices, not seven.
        """
        compute, gigabytes = _profile(profile)
        slice_gigabytes = _profile(self.mig_profiles[-1])[1] / MEMORY_SLICES
        return min(_COMPUTE_LIMIT[compute], MEMORY_SLICES // round(gigabytes / slice_gigabytes))

    @property
    def memory_gib(self) -> float:
        """Memory of one GPU in GiB, rounded to one decimal."""
        return round(self.memory_mib / 1024, 1)


def mig_memory_mib(profile: str) -> int:
    """Memory of one MIG device: ``1g.10gb`` → 9536 MiB."""
    return int(_profile(profile)[1] * MIB_PER_GB)


def _profile(profile: str) -> tuple[int, int]:
    """``3g.40gb`` → (3 compute slices, 40 GB)."""
    compute, memory = profile.split(".", 1)
    return int(compute.removesuffix("g")), int(memory.removesuffix("gb"))


_COMPUTE_LIMIT = {1: 7, 2: 3, 3: 2, 4: 1, 7: 1}
"""How many MIG devices of one compute size fit the seven compute slices of a GPU."""
MEMORY_SLICES = 8
"""A MIG-capable GPU's memory is cut into eight slices."""


_A100_40_MIG = ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_80GB_MIG = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_H200_MIG = ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")

GPUS: Mapping[GpuProduct, Gpu] = MappingProxyType(
    {
        GpuProduct.T4: Gpu(GpuProduct.T4, "Tesla-T4", 15360, 1),
        GpuProduct.L4: Gpu(GpuProduct.L4, "NVIDIA-L4", 23034, 1),
        GpuProduct.A10G: Gpu(GpuProduct.A10G, "NVIDIA-A10G", 23028, 1),
        GpuProduct.L40S: Gpu(GpuProduct.L40S, "NVIDIA-L40S", 46068, 4),
        GpuProduct.A100_40GB: Gpu(
            GpuProduct.A100_40GB, "NVIDIA-A100-SXM4-40GB", 40960, 8, _A100_40_MIG
        ),
        GpuProduct.A100_80GB: Gpu(
            GpuProduct.A100_80GB, "NVIDIA-A100-SXM4-80GB", 81920, 8, _80GB_MIG
        ),
        GpuProduct.H100_80GB: Gpu(
            GpuProduct.H100_80GB, "NVIDIA-H100-80GB-HBM3", 81559, 8, _80GB_MIG
        ),
        GpuProduct.H200_141GB: Gpu(GpuProduct.H200_141GB, "NVIDIA-H200", 143771, 8, _H200_MIG),
    }
)
