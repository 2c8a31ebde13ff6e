"""One add-on per model: a vLLM engine release behind the production-stack router, or a KServe
`InferenceService`, each sized by `function.compose.sizing` and gated on allocatable GPUs.

vLLM models become their own release of the ``vllm-stack`` chart with the router switched off
(``routerSpec.enableRouter: false``) and one ``servingEngineSpec.modelSpec[]`` entry; the
catalog's ``vllm-stack`` add-on runs the one router, which finds every engine in its namespace
by Kubernetes service discovery. KServe and Triton models become an ``InferenceService``
manifest on the Hugging Face (vLLM backend) or Triton serving runtime. `function.compose.addons`
places these add-ons in the bundle.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from function.catalog.addons import SERVING, VLLM_IMAGE, Chart, Serving, model_addon_name
from function.compose import naming
from function.compose.sizing import ModelFit
from function.errors import FieldError, SpecError
from function.model.bundle import AddonSpec, ClusterGate, HelmSource
from function.model.xr import ModelSpec, Precision, Runtime

INFERENCE_SERVICE_API_VERSION = "serving.kserve.io/v1beta1"
CPU_PER_DEVICE = 2
MEMORY_GIB_PER_DEVICE = 8
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_DTYPE = {Precision.FP16: "float16", Precision.FP8: "auto", Precision.INT4: "auto"}


def model_addon(fit: ModelFit, vllm_chart: Chart) -> AddonSpec:
    """The add-on serving one model, after its runtime's serving stack."""
    serving = SERVING[fit.model.runtime]
    name = model_addon_name(fit.model.name)
    common: dict[str, Any] = {
        "name": name,
        "depends_on": [serving.last],
        "namespace": serving.model_namespace,
        "gate": ClusterGate.GPU_ALLOCATABLE,
    }
    if fit.model.runtime is Runtime.VLLM:
        helm = HelmSource(
            repository=vllm_chart.repository,
            chart=vllm_chart.chart,
            version=vllm_chart.version,
            values=vllm_engine_values(fit),
        )
        return AddonSpec(**common, helm=helm)
    return AddonSpec(**common, manifests=_inference_service_yaml(fit, serving))


def engine_args(fit: ModelFit) -> list[str]:
    """vLLM engine flags from the sizing: parallelism, context and memory share."""
    args = [
        f"--tensor-parallel-size={fit.devices_per_replica}",
        f"--max-model-len={fit.model.context_length}",
        f"--gpu-memory-utilization={fit.memory_utilization}",
    ]
    if fit.model.precision is Precision.FP8:
        args.append("--quantization=fp8")
    else:
        args.append(f"--dtype={_DTYPE[fit.model.precision]}")
    return args


def vllm_engine_values(fit: ModelFit) -> dict[str, Any]:
    """Values of a ``vllm-stack`` release that runs one model's engines and no router."""
    model = fit.model
    devices = fit.devices_per_replica
    vllm_config: dict[str, Any] = {
        "tensorParallelSize": devices,
        "maxModelLen": model.context_length,
        "gpuMemoryUtilization": fit.memory_utilization,
        "dtype": _DTYPE[model.precision],
    }
    if model.precision is Precision.FP8:
        vllm_config["extraArgs"] = ["--quantization", "fp8"]
    return {
        "routerSpec": {"enableRouter": False},
        "servingEngineSpec": {
            "enableEngine": True,
            "runtimeClassName": "nvidia",
            "labels": {naming.LABEL_MODEL: model.name},
            "modelSpec": [
                {
                    "name": model.name,
                    "repository": VLLM_IMAGE[0],
                    "tag": VLLM_IMAGE[1],
                    "modelURL": model.source.removeprefix("hf://"),
                    "replicaCount": model.replicas,
                    "requestCPU": CPU_PER_DEVICE * devices,
                    "requestMemory": f"{MEMORY_GIB_PER_DEVICE * devices}Gi",
                    "requestGPU": devices,
                    "vllmConfig": vllm_config,
                }
            ],
        },
    }


@functools.lru_cache(maxsize=1024)
def _inference_service_yaml(fit: ModelFit, serving: Serving) -> str:
    """The manifest as YAML text; an XR is composed again every minute, so it is memoised."""
    return yaml.dump(inference_service(fit, serving), Dumper=_Dumper, sort_keys=False)


def inference_service(fit: ModelFit, serving: Serving) -> dict[str, Any]:
    """A KServe ``InferenceService`` for one model, with fixed replicas and GPU requests."""
    model = fit.model
    devices = fit.devices_per_replica
    predictor_model: dict[str, Any] = {
        "modelFormat": {"name": serving.model_format},
        "storageUri": model.source,
    }
    if model.runtime is Runtime.KSERVE:
        predictor_model["args"] = [f"--model_name={model.name}", *engine_args(fit)]
    predictor_model["resources"] = {
        "requests": {
            "cpu": str(CPU_PER_DEVICE * devices),
            "memory": f"{MEMORY_GIB_PER_DEVICE * devices}Gi",
            "nvidia.com/gpu": str(devices),
        },
        "limits": {"nvidia.com/gpu": str(devices)},
    }
    return {
        "apiVersion": INFERENCE_SERVICE_API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": model.name,
            "namespace": serving.model_namespace,
            "labels": {naming.LABEL_MODEL: model.name},
        },
        "spec": {
            "predictor": {
                "minReplicas": model.replicas,
                "maxReplicas": model.replicas,
                "model": predictor_model,
            }
        },
    }


def check_model_sources(models: list[ModelSpec]) -> None:
    """Every model's weights must come from somewhere its runtime can load them."""
    errors = [
        FieldError(
            f"spec.models[{i}].source",
            f"{model.runtime} cannot load {model.source_scheme}:// sources; allowed: "
            + ", ".join(f"{scheme}://" for scheme in SERVING[model.runtime].source_schemes),
        )
        for i, model in enumerate(models)
        if model.source_scheme not in SERVING[model.runtime].source_schemes
    ]
    if errors:
        raise SpecError(errors)
