"""The EdgeAICluster contract: a small cluster at an edge site, with or without GPUs.

An edge site runs a lightweight control plane through Cluster API — k3s
(``KThreesControlPlane``) or k0s hosted by k0smotron (``K0smotronControlPlane``) — chosen by
``edge.controlPlane`` through the platform's ClusterClass, and a slim add-on bundle: a small
model server, a NATS leaf node (or NATS' MQTT broker) to reach the hub, an OpenTelemetry
collector, and the GPU stack only when the site declares GPUs. `function.compose.kinds.edge`
composes it; both classes are the source of the EdgeAICluster XRDs (`function.model.schema`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from function.model.common import DNS_LABEL, Spec, cel, parse
from function.model.xr import (
    CROSSPLANE_SPEC_FIELDS,
    MIN_PARAMETERS,
    PARAMETERS_PATTERN,
    CapiSpec,
    ClusterSpec,
    GpuSpec,
    Precision,
    parameter_count,
)
from function.model.xrstatus import XRStatus

KIND = "EdgeAICluster"
LEGACY_KIND = "XEdgeAICluster"
PLURAL = "edgeaiclusters"
MAX_EDGE_PARAMETERS = 14e9
_EDGE_PARAMETERS_RANGE = cel(
    "self.endsWith('M') "
    "? self.matches('^0*([1-9][0-9]{0,3}([.][0-9]+)?|1[0-3][0-9]{3}([.][0-9]+)?|14000([.]0+)?)M$') "
    ": self.matches('^0*([0-9]([.][0-9]+)?|1[0-3]([.][0-9]+)?|14([.]0+)?)B$') "
    "&& !self.matches('^0+([.]0+)?B$')",
    "must be from 1M to 14B parameters",
)
"""`MAX_EDGE_PARAMETERS` and the lower bound as CEL, for text that matches the pattern."""
"""An edge site serves small models; larger ones belong on an AIInferenceCluster."""


class ControlPlane(StrEnum):
    """The lightweight Kubernetes distribution of the site's control plane."""

    K3S = "k3s"
    K0S = "k0s"


class Broker(StrEnum):
    """How the site's devices and the hub exchange messages."""

    NATS = "nats"
    """A NATS leaf node connected to the hub."""
    MQTT = "mqtt"
    """NATS' MQTT listener (on JetStream) for devices that speak MQTT."""


class EdgeCapiSpec(CapiSpec):
    """Cluster API settings of an edge site; the ClusterClass defaults by control plane."""

    cluster_class: str | None = Field(  # type: ignore[assignment]
        default=None,
        pattern=DNS_LABEL,
        max_length=63,
        description="ClusterClass of the site; defaults to edge-k3s or edge-k0s, whose control "
        "plane template is a KThreesControlPlaneTemplate or K0smotronControlPlaneTemplate.",
    )
    control_plane_replicas: Literal[1, 3] | None = Field(
        default=None, description="Control plane machines (or k0smotron pods); defaults to 1."
    )
    cpu_workers: int = Field(default=1, ge=0, le=100, description="Machines in the CPU pool.")


class EdgeSettings(Spec):
    """What makes the site an edge site."""

    control_plane: ControlPlane = Field(
        default=ControlPlane.K3S, description="k3s (KThreesControlPlane) or k0s (k0smotron)."
    )
    broker: Broker = Field(default=Broker.NATS, description="Messaging: nats or mqtt.")
    hub: str | None = Field(
        default=None,
        pattern=r"^(nats|tls|ws|wss)://[^\s{}]+$",
        description="Leaf node remote of the hub's NATS, e.g. tls://hub.example.com:7422.",
    )


class EdgeModelSpec(Spec):
    """The small model the site serves."""

    name: str = Field(pattern=DNS_LABEL, max_length=40, description="Model name.")
    parameters: str = Field(
        pattern=PARAMETERS_PATTERN,
        description="Parameter count with a unit: 500M, 3B, 8B (from 1M to 14B).",
        json_schema_extra={"x-kubernetes-validations": [_EDGE_PARAMETERS_RANGE]},
    )
    precision: Precision = Field(default=Precision.FP16, description="Precision of the weights.")
    source: str = Field(
        pattern=r"^(hf|ollama)://[^\s{}]+$",
        description="hf://org/model (vLLM, needs gpu) or ollama://model:tag (Ollama, CPU or GPU).",
    )
    context_length: int = Field(default=4096, ge=1, le=32768, description="Longest sequence.")

    @field_validator("parameters")
    @classmethod
    def _small(cls, value: str) -> str:
        if not MIN_PARAMETERS <= parameter_count(value) <= MAX_EDGE_PARAMETERS:
            raise ValueError(f"unsupported value {value!r}; allowed: from 1M to 14B parameters")
        return value

    @property
    def parameter_count(self) -> float:
        """The parameter count as a number."""
        return parameter_count(self.parameters)


class EdgeAIClusterSpec(ClusterSpec):
    """An edge site: where, its control plane, its GPUs if any, its model, its add-ons."""

    CEL = (
        cel(
            "!has(self.model) || !self.model.source.startsWith('hf://') || has(self.gpu)",
            "an hf:// model needs gpu (a CPU-only site serves ollama:// models)",
            ".gpu",
        ),
    )

    capi: EdgeCapiSpec | None = Field(
        default=None, description="Cluster API settings; required with provider: capi."
    )
    gpu: GpuSpec | None = Field(  # type: ignore[assignment]
        default=None, description="The site's GPUs; leave out for a CPU-only site."
    )
    edge: EdgeSettings = Field(default_factory=EdgeSettings, description="The edge settings.")
    model: EdgeModelSpec | None = Field(default=None, description="The small model served.")

    @model_validator(mode="after")
    def _gpu_for_hf(self) -> Self:
        if self.model and self.model.source.startswith("hf://") and self.gpu is None:
            raise ValueError("an hf:// model needs gpu (a CPU-only site serves ollama:// models)")
        return self


def parse_edge_spec(data: Any, *, root: str = "spec") -> EdgeAIClusterSpec:
    """Parse an EdgeAICluster's (or claim's) spec, ignoring the fields Crossplane owns."""
    return parse(EdgeAIClusterSpec, data, root=root, ignore=CROSSPLANE_SPEC_FIELDS)


class EdgeStatus(Spec):
    """What the site runs."""

    control_plane: str = Field(description="k3s or k0s.")
    broker: str = Field(description="nats or mqtt.")
    model_engine: str | None = Field(default=None, description="VLLM or OLlama, if a model.")
    gpus: bool = Field(description="Whether the site has a GPU pool.")


class EdgeAIClusterStatus(XRStatus):
    """The status of an edge site: the common one and what the site runs."""

    edge: EdgeStatus = Field(description="What the site runs.")
