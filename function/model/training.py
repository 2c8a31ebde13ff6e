"""The AITrainingCluster contract: a GPU cluster sized to train (or fine-tune) one model.

Beside the cluster every kind shares (`function.model.xr.ClusterSpec`), a training cluster
names the model it trains: its parameter count, training precision and optimizer, from which
`function.compose.kinds.training` sizes the GPU pool (weights, gradients and optimizer state
sharded over ``gpu.count`` GPUs). Its status reports that sizing. Both classes are the source
of the AITrainingCluster XRDs (`function.model.schema`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from function.model.common import DNS_LABEL, Spec, cel, parse
from function.model.xr import (
    CROSSPLANE_SPEC_FIELDS,
    MAX_PARAMETERS,
    MIN_PARAMETERS,
    PARAMETERS_PATTERN,
    PARAMETERS_RANGE,
    ClusterSpec,
    GpuSpec,
    Sharing,
    parameter_count,
)
from function.model.xrstatus import XRStatus

KIND = "AITrainingCluster"
LEGACY_KIND = "XAITrainingCluster"
PLURAL = "aitrainingclusters"


class TrainingPrecision(StrEnum):
    """Numeric precision the model is trained in (mixed precision keeps fp32 master weights)."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"


class Optimizer(StrEnum):
    """The optimizer, which decides how much state each parameter carries."""

    ADAMW = "adamw"
    ADAM = "adam"
    SGD = "sgd"


class TrainingGpuSpec(GpuSpec):
    """The GPU pool of a training cluster: whole GPUs, and how many the model is sharded over."""

    CEL = (
        cel(
            "self.sharing == 'none'",
            "training shards over whole GPUs: sharing must be none",
            ".sharing",
        ),
    )

    count: int = Field(
        ge=1,
        le=4096,
        description="GPUs the model's weights, gradients and optimizer state are sharded over "
        "(FSDP / ZeRO-3); the pool gets enough nodes to hold them.",
    )

    @model_validator(mode="after")
    def _whole_gpus(self) -> Self:
        if self.sharing is not Sharing.NONE:
            raise ValueError("training shards over whole GPUs: sharing must be none")
        return self


class TrainingModelSpec(Spec):
    """The model being trained."""

    name: str = Field(pattern=DNS_LABEL, max_length=40, description="Model name.")
    parameters: str = Field(
        pattern=PARAMETERS_PATTERN,
        description="Parameter count with a unit: 350M, 8B, 70B (from 1M to 10000B).",
        json_schema_extra={"x-kubernetes-validations": [PARAMETERS_RANGE]},
    )
    precision: TrainingPrecision = Field(
        default=TrainingPrecision.BF16, description="Training precision."
    )
    optimizer: Optimizer = Field(default=Optimizer.ADAMW, description="Optimizer.")

    @field_validator("parameters")
    @classmethod
    def _sane_parameters(cls, value: str) -> str:
        if not MIN_PARAMETERS <= parameter_count(value) <= MAX_PARAMETERS:
            raise ValueError(f"unsupported value {value!r}; allowed: from 1M to 10000B parameters")
        return value

    @property
    def parameter_count(self) -> float:
        """The parameter count as a number (``"70B"`` → 7e10)."""
        return parameter_count(self.parameters)


class AITrainingClusterSpec(ClusterSpec):
    """A training cluster: where, which GPUs, which model, which add-ons."""

    gpu: TrainingGpuSpec = Field(description="The GPU worker pool.")
    model: TrainingModelSpec = Field(description="The model trained on the cluster.")


def parse_training_spec(data: Any, *, root: str = "spec") -> AITrainingClusterSpec:
    """Parse an AITrainingCluster's (or claim's) spec, ignoring the fields Crossplane owns."""
    return parse(AITrainingClusterSpec, data, root=root, ignore=CROSSPLANE_SPEC_FIELDS)


class TrainingStatus(Spec):
    """How the training memory was sized."""

    model: str = Field(description="Model name.")
    bytes_per_parameter: float = Field(
        description="Weights, gradients and optimizer state per parameter, in bytes."
    )
    memory_gib: float = Field(
        alias="memoryGiB", description="Training state of the whole model, in GiB."
    )
    per_gpu_gib: float = Field(
        alias="perGpuGiB", description="Training state on each GPU, with activation headroom."
    )
    gpus: int = Field(description="GPUs the state is sharded over.")
    min_gpus: int = Field(description="Fewest GPUs of this product that could hold it.")


class AITrainingClusterStatus(XRStatus):
    """The status of a training cluster: the common one and the training sizing."""

    training: TrainingStatus = Field(description="How the training memory was sized.")
