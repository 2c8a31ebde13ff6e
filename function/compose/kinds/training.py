"""AITrainingCluster: a GPU pool sized to hold one model's training state, sharded over
``gpu.count`` GPUs, with the training stack of the catalog.

Training state per parameter is its weights, its gradients and its optimizer state in the
training precision: 4 + 4 bytes in fp32, 2 + 2 in bf16/fp16, 1 + 2 in fp8 (gradients stay
bf16); Adam and AdamW keep two fp32 moments (8 bytes), SGD one momentum (4); below fp32 the
optimizer also keeps fp32 master weights (4). Mixed-precision AdamW is thus the familiar 16
bytes a parameter. Fully sharded (FSDP / ZeRO-3) over ``gpu.count`` GPUs, each GPU holds its
share plus 20 % for activations and communication buffers, within 90 % of its memory. Too few
GPUs raises `SpecError` at ``spec.gpu.count`` with the fewest that would do; the pool gets
``ceil(count / perNode)`` nodes (at least ``minNodes``, at most ``maxNodes``). The bundle:
NFD, the GPU operator, monitoring, Kueue, KubeRay and Kubeflow Trainer
(`function.catalog.addons.TRAINING_ADDONS`). Provisioned by the family of ``spec.provider``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from function.catalog.addons import TRAINING_ADDONS
from function.catalog.gpus import GPUS, Gpu
from function.compose.kinds.kind import Workload, provisioned
from function.compose.sizing import GIB, MIB, PoolSize
from function.errors import SpecError
from function.model import training
from function.model.input import FunctionInput
from function.model.training import AITrainingClusterSpec, Optimizer, TrainingPrecision

WEIGHT_BYTES = {
    TrainingPrecision.FP32: 4.0,
    TrainingPrecision.BF16: 2.0,
    TrainingPrecision.FP16: 2.0,
    TrainingPrecision.FP8: 1.0,
}
GRADIENT_BYTES = {**WEIGHT_BYTES, TrainingPrecision.FP8: 2.0}
"""fp8 training keeps bf16 gradients."""
OPTIMIZER_STATE_BYTES = {Optimizer.ADAMW: 8.0, Optimizer.ADAM: 8.0, Optimizer.SGD: 4.0}
"""fp32 moments: Adam's two, SGD's momentum."""
MASTER_WEIGHT_BYTES = 4.0
"""The fp32 copy mixed precision keeps beside lower-precision weights."""
ACTIVATION_HEADROOM = 0.20
USABLE_MEMORY = 0.90


@dataclass(frozen=True)
class TrainingSize:
    """How one model's training state lands on the GPUs."""

    bytes_per_parameter: float
    total_bytes: float
    per_gpu_bytes: float
    min_gpus: int


def bytes_per_parameter(precision: TrainingPrecision, optimizer: Optimizer) -> float:
    """Weights + gradients + optimizer state (+ fp32 master weights below fp32), in bytes."""
    master = 0.0 if precision is TrainingPrecision.FP32 else MASTER_WEIGHT_BYTES
    return (
        WEIGHT_BYTES[precision]
        + GRADIENT_BYTES[precision]
        + OPTIMIZER_STATE_BYTES[optimizer]
        + master
    )


def size_training(spec: AITrainingClusterSpec) -> tuple[PoolSize, TrainingSize]:
    """The pool for ``spec.model`` sharded over ``spec.gpu.count``; `SpecError` if it won't fit."""
    gpu = GPUS[spec.gpu.product]
    model, count = spec.model, spec.gpu.count
    per_parameter = bytes_per_parameter(model.precision, model.optimizer)
    total = model.parameter_count * per_parameter
    usable = gpu.memory_mib * MIB * USABLE_MEMORY
    with_headroom = total * (1 + ACTIVATION_HEADROOM)
    size = TrainingSize(
        per_parameter, total, with_headroom / count, math.ceil(with_headroom / usable)
    )
    if size.min_gpus > count:
        raise SpecError.at(
            "spec.gpu.count",
            f"model {model.name!r} ({model.parameters} {model.precision}, {model.optimizer}) "
            f"needs {total / GIB:.1f} GiB of weights, gradients and optimizer state "
            f"({per_parameter:g} bytes a parameter) and {ACTIVATION_HEADROOM:.0%} headroom: at "
            f"least {size.min_gpus} x {gpu.product}; count is {count}",
        )
    per_node = spec.gpu.per_node or gpu.per_node
    nodes = max(math.ceil(count / per_node), spec.gpu.min_nodes)
    if nodes > spec.gpu.max_nodes:
        raise SpecError.at(
            "spec.gpu.maxNodes",
            f"{count} GPUs need {nodes} nodes of {per_node} x {gpu.product}; "
            f"maxNodes is {spec.gpu.max_nodes}",
        )
    return _pool(gpu, spec, per_node, nodes), size


def _pool(gpu: Gpu, spec: AITrainingClusterSpec, per_node: int, nodes: int) -> PoolSize:
    return PoolSize(
        gpu=gpu,
        sharing=spec.gpu.sharing,
        per_node=per_node,
        devices_per_gpu=1,
        nodes=nodes,
        max_nodes=max(spec.gpu.max_nodes, nodes),
        models=(),
    )


class TrainingKind:
    """AITrainingCluster (legacy: XAITrainingCluster)."""

    kinds = (training.KIND, training.LEGACY_KIND)

    def workload(self, name: str, namespace: str, spec: Any, settings: FunctionInput) -> Workload:
        """The training state sharded onto the pool; the catalog's training stack."""
        parsed = training.parse_training_spec(spec)
        pool, size = size_training(parsed)
        status = training.TrainingStatus(
            model=parsed.model.name,
            bytes_per_parameter=size.bytes_per_parameter,
            memory_gib=round(size.total_bytes / GIB, 1),
            per_gpu_gib=round(size.per_gpu_bytes / GIB, 1),
            gpus=parsed.gpu.count,
            min_gpus=size.min_gpus,
        )
        return provisioned(
            name,
            namespace,
            parsed,
            pool,
            settings,
            wanted=TRAINING_ADDONS,
            status={"training": status.to_dict()},
        )
