"""EdgeAICluster: a small Cluster API cluster at an edge site, and its slim bundle.

The site is a Cluster API ``Cluster`` with a ClusterClass topology like an inference cluster's
(so readiness and the ``<name>-kubeconfig`` Secret are Cluster API's, read by
`function.compose.providers.capi`), but its ClusterClass — ``edge-k3s`` or ``edge-k0s`` unless
``spec.capi.clusterClass`` names another — has a ``KThreesControlPlaneTemplate`` (cluster-api-k3s)
or a ``K0smotronControlPlaneTemplate`` (k0smotron, control plane hosted as pods) as its control
plane, and the topology version carries the distribution's suffix (``v1.33.0+k3s1``,
``v1.33.0-k0s.0``). Example ClusterClasses are under ``examples/clusterclasses/``. One CPU
pool, and a GPU pool only when the site declares ``gpu``.

The bundle: the OpenTelemetry collector, NATS (a leaf node of ``edge.hub``, or NATS' MQTT
listener with ``broker: mqtt``), NFD and the GPU operator only with GPUs, and with a model the
KubeAI server and one KubeAI ``Model``: vLLM for ``hf://`` weights on a GPU (which must fit one
device), Ollama for ``ollama://`` on CPU or GPU.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from function.catalog.addons import EDGE_ADDONS, GPU_OPERATOR, KUBEAI, NATS, NFD
from function.catalog.gpus import GPUS, mig_memory_mib
from function.compose import naming
from function.compose.kinds.kind import Workload
from function.compose.providers import FAMILIES
from function.compose.providers.capi import (
    CPU_WORKER_CLASS,
    KIND,
    NODE_GPU_PRODUCT_LABEL,
    api_version,
    cluster_plan,
    gpu_machine_variables,
)
from function.compose.providers.family import ClusterPlan
from function.compose.sizing import (
    DEFAULT_REPLICAS_PER_GPU,
    GFD_PRODUCT,
    GIB,
    GPU_MEMORY_UTILIZATION,
    MIB,
    PoolSize,
    replica_need_bytes,
)
from function.errors import SpecError
from function.model import edge
from function.model.bundle import AddonSpec, ClusterGate
from function.model.edge import Broker, ControlPlane, EdgeAIClusterSpec, EdgeModelSpec
from function.model.input import FunctionInput
from function.model.xr import GpuSpec, Infrastructure, ModelSpec, Provider, Runtime, Sharing

LABEL_EDGE = f"{naming.LABEL_PREFIX}edge"
LABEL_CONTROL_PLANE = f"{naming.LABEL_PREFIX}control-plane"
VERSION_SUFFIX = {ControlPlane.K3S: "+k3s1", ControlPlane.K0S: "-k0s.0"}
GPU_PROFILE = "nvidia-gpu-site"
"""The KubeAI resource profile of the site's GPU."""
KUBEAI_API_VERSION = "kubeai.org/v1"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class EdgeKind:
    """EdgeAICluster (legacy: XEdgeAICluster)."""

    kinds = (edge.KIND, edge.LEGACY_KIND)

    def workload(self, name: str, namespace: str, spec: Any, settings: FunctionInput) -> Workload:
        """The site's Cluster and its slim bundle."""
        parsed = edge.parse_edge_spec(spec)
        if parsed.provider is not Provider.CAPI:
            raise SpecError.at(
                "spec.provider", "edge sites are provisioned through Cluster API; allowed: capi"
            )
        pool = None if parsed.gpu is None else edge_pool(parsed.gpu)
        engine = None if parsed.model is None else _engine(parsed.model)
        if parsed.model is not None and pool is not None and engine == "VLLM":
            _check_fits(parsed.model, pool)
        wanted = [*EDGE_ADDONS]
        if pool is not None:
            wanted += [NFD.name, GPU_OPERATOR.name]
        if parsed.model is not None:
            wanted.append(KUBEAI.name)
        values: dict[str, dict[str, Any]] = {NATS.name: _nats_values(parsed)}
        if pool is not None:
            values[KUBEAI.name] = {"resourceProfiles": {GPU_PROFILE: _gpu_profile(pool)}}
        status = edge.EdgeStatus(
            control_plane=parsed.edge.control_plane.value,
            broker=parsed.edge.broker.value,
            model_engine=engine,
            gpus=pool is not None,
        )
        capi_family = FAMILIES[Provider.CAPI]
        docker = parsed.capi is not None and parsed.capi.infrastructure is Infrastructure.DOCKER
        return Workload(
            parsed,
            capi_family,
            compose_site(name, namespace, parsed, pool, settings),
            pool,
            image_values={"driver": {"enabled": False}, "toolkit": {"enabled": False}}
            if docker
            else {},
            wanted=tuple(wanted),
            kind_values=values,
            kind_addons=()
            if parsed.model is None
            else (_model_addon(parsed.model, pool, engine or ""),),
            status={"edge": status.to_dict()},
        )


def edge_pool(gpu: GpuSpec) -> PoolSize:
    """The site's GPU pool: ``minNodes`` nodes (at least one), whole GPUs or shares of them."""
    product = GPUS[gpu.product]
    devices = 1
    if gpu.sharing is Sharing.TIME_SLICING:
        devices = gpu.replicas_per_gpu or DEFAULT_REPLICAS_PER_GPU
    elif gpu.sharing is Sharing.MIG:
        if gpu.mig_profile not in product.mig_profiles:
            allowed = ", ".join(product.mig_profiles) or f"none: {product.product} has no MIG"
            raise SpecError.at(
                "spec.gpu.migProfile", f"unsupported value {gpu.mig_profile!r}; allowed: {allowed}"
            )
        devices = product.mig_devices(gpu.mig_profile or "")
    nodes = max(gpu.min_nodes, 1)
    if nodes > gpu.max_nodes:
        raise SpecError.at("spec.gpu.maxNodes", f"must be at least {nodes}")
    return PoolSize(
        gpu=product,
        sharing=gpu.sharing,
        per_node=gpu.per_node or product.per_node,
        devices_per_gpu=devices,
        nodes=nodes,
        max_nodes=gpu.max_nodes,
        models=(),
        mig_profile=gpu.mig_profile,
    )


def _engine(model: EdgeModelSpec) -> str:
    return "VLLM" if model.source.startswith("hf://") else "OLlama"


def _check_fits(model: EdgeModelSpec, pool: PoolSize) -> None:
    """A vLLM model at the edge runs on one device of the site."""
    as_served = ModelSpec(
        name=model.name,
        parameters=model.parameters,
        precision=model.precision,
        context_length=model.context_length,
        runtime=Runtime.VLLM,
        source=model.source,
    )
    need = replica_need_bytes(as_served)
    if pool.sharing is Sharing.MIG and pool.mig_profile:
        device = float(mig_memory_mib(pool.mig_profile) * MIB)
    else:
        device = pool.gpu.memory_mib * MIB / pool.devices_per_gpu
    if need > device * GPU_MEMORY_UTILIZATION:
        raise SpecError.at(
            "spec.model.parameters",
            f"model {model.name!r} ({model.parameters} {model.precision}) needs "
            f"{need / GIB:.1f} GiB and an edge site serves it on one device of "
            f"{device / GIB:.1f} GiB; use a smaller or lower-precision model, or ollama://",
        )


def compose_site(
    name: str,
    namespace: str,
    spec: EdgeAIClusterSpec,
    pool: PoolSize | None,
    settings: FunctionInput,
) -> ClusterPlan:
    """The site's `Cluster`; Cluster API writes its kubeconfig as for any Cluster."""
    capi = spec.capi
    if capi is None:  # the spec validator requires capi with provider: capi
        raise ValueError("spec.capi is required")
    control_plane = spec.edge.control_plane
    cluster_class = capi.cluster_class or f"edge-{control_plane.value}"
    version = settings.capi_api_version
    class_ref: dict[str, Any] = (
        {"classRef": {"name": cluster_class}}
        if version.value == "v1beta2"
        else {"class": cluster_class}
    )
    labels = {
        **spec.labels,
        naming.LABEL_ENVIRONMENT: spec.environment.value,
        naming.LABEL_REGION: spec.region,
        naming.LABEL_TENANT: namespace,
        naming.LABEL_INFRASTRUCTURE: capi.infrastructure.value,
        LABEL_EDGE: "true",
        LABEL_CONTROL_PLANE: control_plane.value,
    }
    pools: list[dict[str, Any]] = [
        {"class": CPU_WORKER_CLASS, "name": "cpu", "replicas": capi.cpu_workers}
    ]
    if pool is not None:
        labels |= {
            naming.LABEL_GPU_PRODUCT: pool.gpu.product.value,
            naming.LABEL_GPU_COUNT: str(pool.total_gpus),
            naming.LABEL_GPU_MEMORY: str(pool.gpu.memory_mib),
        }
        pools.append(_gpu_pool(pool, gpu_machine_variables(capi, spec.region, pool)))
    cluster = {
        "apiVersion": api_version(version),
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "topology": {
                **class_ref,
                "version": spec.kubernetes_release + VERSION_SUFFIX[control_plane],
                "controlPlane": {"replicas": capi.control_plane_replicas or 1},
                "workers": {"machineDeployments": pools},
                "variables": [
                    {"name": "region", "value": spec.region},
                    {"name": "environment", "value": spec.environment.value},
                ],
            }
        },
    }
    return cluster_plan(cluster)


def _gpu_pool(pool: PoolSize, machine: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "class": "gpu-worker",
        "name": "gpu",
        "replicas": pool.nodes,
        "metadata": {"labels": {NODE_GPU_PRODUCT_LABEL: pool.gpu.product.value}},
        "variables": {
            "overrides": [
                {"name": "gpuProduct", "value": pool.gpu.product.value},
                {"name": "gpusPerNode", "value": pool.per_node},
                *machine,
            ]
        },
    }


def _nats_values(spec: EdgeAIClusterSpec) -> dict[str, Any]:
    settings = spec.edge
    if settings.broker is Broker.MQTT:
        return {"config": {"mqtt": {"enabled": True}}}
    leafnodes: dict[str, Any] = {"enabled": True}
    if settings.hub:
        leafnodes["merge"] = {"remotes": [{"url": settings.hub}]}
    return {"config": {"leafnodes": leafnodes}}


def _gpu_profile(pool: PoolSize) -> dict[str, Any]:
    resource = "nvidia.com/gpu"
    return {
        "nodeSelector": {GFD_PRODUCT: pool.node_labels[GFD_PRODUCT]},
        "limits": {resource: "1"},
        "tolerations": [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}],
    }


def _model_addon(model: EdgeModelSpec, pool: PoolSize | None, engine: str) -> AddonSpec:
    profile = f"{GPU_PROFILE}:1" if pool is not None else f"cpu:{_cpus(model)}"
    manifest = {
        "apiVersion": KUBEAI_API_VERSION,
        "kind": "Model",
        "metadata": {
            "name": model.name,
            "namespace": KUBEAI.namespace,
            "labels": {naming.LABEL_MODEL: model.name},
        },
        "spec": {
            "features": ["TextGeneration"],
            "url": model.source,
            "engine": engine,
            "resourceProfile": profile,
            "minReplicas": 1,
            **({"args": [f"--max-model-len={model.context_length}"]} if engine == "VLLM" else {}),
        },
    }
    return AddonSpec(
        name=f"model-{model.name}",
        depends_on=[KUBEAI.name],
        namespace=KUBEAI.namespace,
        gate=ClusterGate.GPU_ALLOCATABLE if pool is not None else ClusterGate.WORKERS_AVAILABLE,
        manifests=yaml.dump(manifest, Dumper=_Dumper, sort_keys=False),
    )


def _cpus(model: EdgeModelSpec) -> int:
    """CPUs of KubeAI's ``cpu`` profile for an Ollama model: one per 2B parameters, 1 to 8."""
    return min(8, max(1, math.ceil(model.parameter_count / 2e9)))
