"""The built-in add-on catalog: charts, versions, namespaces, default values and install order.

Every entry names a real upstream chart and version. The offline stand-ins under
``examples/charts/<chart>/`` carry the same chart names and versions, so an Input with
``catalog.repository: file://examples/charts`` selects them without touching anything else.
`function.compose.addons` picks the entries an XR needs, fills the values that depend on the
XR (time-slicing, MIG, per-model engines) and emits them as `AddonSpec`s in this order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from function.model.xr import Runtime


@dataclass(frozen=True)
class Chart:
    """Where a chart comes from."""

    repository: str
    chart: str
    version: str


@dataclass(frozen=True)
class CatalogAddon:
    """One add-on of the catalog."""

    name: str
    chart: Chart
    namespace: str
    depends_on: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)


_KSERVE_CHARTS = "oci://ghcr.io/kserve/charts"
_VLLM_CHARTS = "https://vllm-project.github.io/production-stack"

CERT_MANAGER = CatalogAddon(
    "cert-manager",
    Chart("https://charts.jetstack.io", "cert-manager", "v1.17.0"),
    "cert-manager",
    values={"crds": {"enabled": True}},
)
NFD = CatalogAddon(
    "nfd",
    Chart("oci://registry.k8s.io/nfd/charts", "node-feature-discovery", "0.19.0"),
    "node-feature-discovery",
    values={
        # The GPU operator's own NFD configuration: label PCI devices by vendor only.
        "worker": {
            "config": {
                "sources": {
                    "pci": {
                        "deviceClassWhitelist": ["02", "0200", "0207", "0300", "0302"],
                        "deviceLabelFields": ["vendor"],
                    }
                }
            }
        },
        "master": {"config": {"extraLabelNs": ["nvidia.com"]}},
    },
)
GPU_OPERATOR = CatalogAddon(
    "gpu-operator",
    Chart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0"),
    "gpu-operator",
    depends_on=("nfd",),
    values={"nfd": {"enabled": False}},
)
MONITORING = CatalogAddon(
    "monitoring",
    Chart("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "83.4.0"),
    "monitoring",
    values={
        # Pick up the ServiceMonitors of DCGM, KServe and vLLM, not only the chart's own.
        "prometheus": {
            "prometheusSpec": {
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
            }
        }
    },
)
KSERVE_CRD = CatalogAddon(
    "kserve-crd",
    Chart(_KSERVE_CHARTS, "kserve-crd", "v0.20.0"),
    "kserve",
    depends_on=("cert-manager",),
)
KSERVE = CatalogAddon(
    "kserve",
    Chart(_KSERVE_CHARTS, "kserve-resources", "v0.20.0"),
    "kserve",
    depends_on=("kserve-crd",),
    values={"kserve": {"controller": {"deploymentMode": "Standard"}}},
)
KSERVE_RUNTIMES = CatalogAddon(
    "kserve-runtimes",
    Chart(_KSERVE_CHARTS, "kserve-runtime-configs", "v0.20.0"),
    "kserve",
    depends_on=("kserve",),
    values={"kserve": {"servingruntime": {"enabled": True}}},
)
VLLM_STACK = CatalogAddon(
    "vllm-stack",
    Chart(_VLLM_CHARTS, "vllm-stack", "0.1.12"),
    "vllm",
    depends_on=("gpu-operator", "monitoring"),
    values={
        # The router alone; every model is its own release of the chart with engines only,
        # found by the router's Kubernetes service discovery in the same namespace.
        "servingEngineSpec": {"enableEngine": False, "modelSpec": []},
        "routerSpec": {
            "enableRouter": True,
            "serviceDiscovery": "k8s",
            "routingLogic": "roundrobin",
        },
    },
)

KUEUE = CatalogAddon(
    "kueue",
    Chart("oci://registry.k8s.io/kueue/charts", "kueue", "0.19.2"),
    "kueue-system",
    depends_on=("gpu-operator",),
)
KUBERAY = CatalogAddon(
    "kuberay",
    Chart("https://ray-project.github.io/kuberay-helm/", "kuberay-operator", "1.7.0"),
    "kuberay",
    depends_on=("kueue",),
    # RayJobs and RayClusters are admitted by Kueue's queues.
    values={"batchScheduler": {"name": "kueue"}},
)
KUBEFLOW_TRAINER = CatalogAddon(
    "kubeflow-trainer",
    Chart("oci://ghcr.io/kubeflow/charts", "kubeflow-trainer", "2.3.0"),
    "kubeflow-system",
    depends_on=("kueue",),
    values={"runtimes": {"defaultEnabled": True}},
)
OTEL_COLLECTOR = CatalogAddon(
    "otel-collector",
    Chart(
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "opentelemetry-collector",
        "0.184.0",
    ),
    "observability",
    values={
        "mode": "daemonset",
        "image": {"repository": "otel/opentelemetry-collector-k8s"},
        "presets": {"kubernetesAttributes": {"enabled": True}},
    },
)
NATS = CatalogAddon(
    "nats",
    Chart("https://nats-io.github.io/k8s/helm/charts/", "nats", "2.14.2"),
    "nats",
    values={"config": {"jetstream": {"enabled": True}}},
)
KUBEAI = CatalogAddon(
    "kubeai",
    Chart("https://www.kubeai.org", "kubeai", "0.23.0"),
    "kubeai",
    values={"open-webui": {"enabled": False}},
)

CATALOG: Mapping[str, CatalogAddon] = MappingProxyType(
    {
        addon.name: addon
        for addon in (
            CERT_MANAGER,
            NFD,
            GPU_OPERATOR,
            MONITORING,
            KSERVE_CRD,
            KSERVE,
            KSERVE_RUNTIMES,
            VLLM_STACK,
            KUEUE,
            KUBERAY,
            KUBEFLOW_TRAINER,
            OTEL_COLLECTOR,
            NATS,
            KUBEAI,
        )
    }
)
"""Every catalog add-on by name, in install order."""

BASE_ADDONS = (NFD.name, GPU_OPERATOR.name, MONITORING.name)
"""What every GPU cluster gets."""
TRAINING_ADDONS = (*BASE_ADDONS, KUEUE.name, KUBERAY.name, KUBEFLOW_TRAINER.name)
"""What a training cluster gets: the GPU base, Kueue's queues, KubeRay and Kubeflow Trainer."""
EDGE_ADDONS = (OTEL_COLLECTOR.name, NATS.name)
"""What every edge site gets; the GPU base (NFD, GPU operator) only where it has GPUs, and the
KubeAI model server where it serves a model."""

_KSERVE_STACK = (CERT_MANAGER.name, KSERVE_CRD.name, KSERVE.name, KSERVE_RUNTIMES.name)


@dataclass(frozen=True)
class Serving:
    """How models of one runtime are served."""

    stack: tuple[str, ...]
    """Catalog add-ons the runtime needs, in install order."""
    model_namespace: str
    """Namespace of the model add-ons."""
    source_schemes: tuple[str, ...]
    """Where the runtime can load weights from."""
    model_format: str = ""
    """KServe model format of the InferenceService (KServe runtimes only)."""

    @property
    def last(self) -> str:
        """The add-on a model of this runtime depends on."""
        return self.stack[-1]


SERVING: Mapping[Runtime, Serving] = MappingProxyType(
    {
        Runtime.VLLM: Serving((VLLM_STACK.name,), VLLM_STACK.namespace, ("hf",)),
        Runtime.KSERVE: Serving(
            _KSERVE_STACK, "models", ("hf", "s3", "gs", "pvc", "oci", "https"), "huggingface"
        ),
        Runtime.TRITON: Serving(_KSERVE_STACK, "models", ("s3", "gs", "pvc", "https"), "triton"),
    }
)

MODEL_ADDON_PREFIX = "model-"
VLLM_IMAGE = ("vllm/vllm-openai", "v0.11.0")
"""The vLLM engine image of model add-ons served by the production-stack router."""


def model_addon_name(model_name: str) -> str:
    """The add-on that serves one model."""
    return f"{MODEL_ADDON_PREFIX}{model_name}"
