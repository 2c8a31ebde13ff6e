"""GPU sizing: from the models an XR serves to GPUs per replica and nodes in the GPU pool.

A replica needs its weights (parameters * bytes per parameter), a KV cache for ``concurrency``
sequences of ``contextLength`` tokens (shape from `function.catalog.architectures`), and 10 %
on top for activations and CUDA graphs. vLLM may use 90 % of each device, so a replica spans
``ceil(need / usable)`` devices rounded up to a tensor-parallel size of 1, 2, 4 or 8, all on
one node. Replicas are packed first-fit onto nodes. A model that cannot fit raises `SpecError`
naming the field and the GPU products it would fit on. `function.compose.providers` and
`function.compose.addons` turn the resulting `PoolSize` into node pools and engine flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from function.catalog.architectures import architecture_for
from function.catalog.gpus import GPUS, Gpu, mig_memory_mib
from function.errors import FieldError, SpecError
from function.model.xr import AIInferenceClusterSpec, GpuSpec, ModelSpec, Precision, Sharing

GIB = 1024**3
MIB = 1024**2
BYTES_PER_PARAMETER = {Precision.FP16: 2.0, Precision.FP8: 1.0, Precision.INT4: 0.5}
KV_BYTES_PER_VALUE = {Precision.FP16: 2.0, Precision.FP8: 1.0, Precision.INT4: 2.0}
"""FP8 models keep an FP8 KV cache; INT4 (AWQ/GPTQ) checkpoints keep FP16 activations."""
RUNTIME_OVERHEAD = 0.10
GPU_MEMORY_UTILIZATION = 0.90
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
DEFAULT_REPLICAS_PER_GPU = 4
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_MEMORY = "nvidia.com/gpu.memory"


@dataclass(frozen=True)
class ModelFit:
    """How one model is served: devices per replica and the engine's memory settings."""

    model: ModelSpec
    devices_per_replica: int
    """Tensor parallel size: schedulable GPU devices one replica spans."""
    need_bytes: float
    memory_utilization: float
    """vLLM's ``--gpu-memory-utilization`` for one device."""

    @property
    def need_gib(self) -> float:
        """Memory one replica needs, in GiB, rounded to one decimal."""
        return round(self.need_bytes / GIB, 1)


@dataclass(frozen=True)
class PoolSize:
    """The GPU worker pool the models need."""

    gpu: Gpu
    sharing: Sharing
    per_node: int
    """Physical GPUs per node."""
    devices_per_gpu: int
    """Schedulable ``nvidia.com/gpu`` devices per physical GPU (time slices, MIG devices)."""
    nodes: int
    max_nodes: int
    models: tuple[ModelFit, ...]
    mig_profile: str | None = None

    @property
    def allocatable_per_node(self) -> int:
        """``nvidia.com/gpu`` each node advertises."""
        return self.per_node * self.devices_per_gpu

    @property
    def node_labels(self) -> dict[str, str]:
        """The GPU labels GPU feature discovery will put on each node of the pool."""
        if self.sharing is Sharing.MIG and self.mig_profile:
            product = f"{self.gpu.label}-MIG-{self.mig_profile}"
            return {GFD_PRODUCT: product, GFD_MEMORY: str(mig_memory_mib(self.mig_profile))}
        suffix = "-SHARED" if self.sharing is Sharing.TIME_SLICING else ""
        return {GFD_PRODUCT: self.gpu.label + suffix, GFD_MEMORY: str(self.gpu.memory_mib)}

    @property
    def total_gpus(self) -> int:
        """Physical GPUs in the pool."""
        return self.per_node * self.nodes


@dataclass(frozen=True)
class _Device:
    """What one schedulable device offers."""

    memory_bytes: float
    per_gpu: int
    memory_utilization: float


def size_pool(spec: AIInferenceClusterSpec) -> PoolSize:
    """Size the GPU pool for ``spec.models``; raise `SpecError` when they cannot fit."""
    gpu = GPUS[spec.gpu.product]
    per_node = spec.gpu.per_node or gpu.per_node
    device = _device(spec.gpu, gpu)
    fits = tuple(
        _fit(model, f"spec.models[{i}]", spec.gpu, gpu, per_node, device)
        for i, model in enumerate(spec.models)
    )
    needed = _pack(fits, per_node * device.per_gpu)
    if needed > spec.gpu.max_nodes:
        raise SpecError.at(
            "spec.gpu.maxNodes",
            f"the models need {needed} GPU nodes of {per_node} x {gpu.product}; "
            f"maxNodes is {spec.gpu.max_nodes}",
        )
    return PoolSize(
        gpu=gpu,
        sharing=spec.gpu.sharing,
        per_node=per_node,
        devices_per_gpu=device.per_gpu,
        nodes=max(needed, spec.gpu.min_nodes),
        max_nodes=spec.gpu.max_nodes,
        models=fits,
        mig_profile=spec.gpu.mig_profile,
    )


def replica_need_bytes(model: ModelSpec) -> float:
    """Memory one replica of ``model`` needs: weights, KV cache and runtime overhead."""
    weights = model.parameter_count * BYTES_PER_PARAMETER[model.precision]
    per_token = architecture_for(model.parameter_count).kv_bytes_per_token(
        KV_BYTES_PER_VALUE[model.precision]
    )
    kv_cache = per_token * model.context_length * model.concurrency
    return (weights + kv_cache) * (1 + RUNTIME_OVERHEAD)


def _device(pool: GpuSpec, gpu: Gpu) -> _Device:
    memory = gpu.memory_mib * MIB
    if pool.sharing is Sharing.TIME_SLICING:
        # Every process on a time-sliced GPU sees all of its memory, so each must stay
        # within its share: the utilization flag is divided by the replicas.
        replicas = pool.replicas_per_gpu or DEFAULT_REPLICAS_PER_GPU
        return _Device(memory / replicas, replicas, GPU_MEMORY_UTILIZATION / replicas)
    if pool.sharing is Sharing.MIG:
        profile = pool.mig_profile or ""
        if not gpu.mig_profiles:
            raise SpecError.at(
                "spec.gpu.sharing",
                f"{gpu.product} has no MIG; allowed: {Sharing.NONE}, {Sharing.TIME_SLICING}",
            )
        if profile not in gpu.mig_profiles:
            raise SpecError.at(
                "spec.gpu.migProfile",
                f"unsupported value {profile!r} for {gpu.product}; "
                f"allowed: {', '.join(gpu.mig_profiles)}",
            )
        return _Device(
            mig_memory_mib(profile) * MIB, gpu.mig_devices(profile), GPU_MEMORY_UTILIZATION
        )
    return _Device(memory, 1, GPU_MEMORY_UTILIZATION)


def _fit(
    model: ModelSpec, path: str, pool: GpuSpec, gpu: Gpu, per_node: int, device: _Device
) -> ModelFit:
    need = replica_need_bytes(model)
    usable = device.memory_bytes * GPU_MEMORY_UTILIZATION
    devices = math.ceil(need / usable)
    tensor_parallel = next((tp for tp in TENSOR_PARALLEL_SIZES if tp >= devices), None)
    shared = pool.sharing is not Sharing.NONE
    if tensor_parallel is None or tensor_parallel > per_node or (shared and devices > 1):
        raise SpecError(FieldError(path, _too_large(model, need, pool, gpu, per_node)))
    return ModelFit(
        model=model,
        devices_per_replica=tensor_parallel,
        need_bytes=need,
        memory_utilization=math.floor(device.memory_utilization * 100) / 100,
    )


def _too_large(model: ModelSpec, need: float, pool: GpuSpec, gpu: Gpu, per_node: int) -> str:
    where = (
        f"one {pool.sharing} device of {gpu.product}"
        if pool.sharing is not Sharing.NONE
        else f"{per_node} x {gpu.product} on one node"
    )
    fits_on = [
        other.product.value
        for other in GPUS.values()
        if need <= other.per_node * other.memory_mib * MIB * GPU_MEMORY_UTILIZATION
    ]
    return (
        f"model {model.name!r} ({model.parameters} {model.precision}, context "
        f"{model.context_length}) needs {need / GIB:.1f} GiB per replica and does not fit "
        f"{where}; GPU products it fits on: {', '.join(fits_on) or 'none'}"
    )


def _pack(fits: tuple[ModelFit, ...], devices_per_node: int) -> int:
    """Nodes needed when every replica's devices must share one node (first fit, largest first)."""
    free: list[int] = []
    replicas = sorted(
        (fit.devices_per_replica for fit in fits for _ in range(fit.model.replicas)),
        reverse=True,
    )
    for size in replicas:
        node = next((i for i, left in enumerate(free) if left >= size), None)
        if node is None:
            free.append(devices_per_node - size)
        else:
            free[node] -= size
    return len(free)
