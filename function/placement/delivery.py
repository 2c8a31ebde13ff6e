"""What a placement decision delivers: one AddonBundle per chosen cluster, and the status.

The placed model is served through the same add-on machinery as an AIInferenceCluster's
models: `function.compose.serving.model_addon` sized for the GPUs of the chosen product (its
tensor-parallel size) with that cluster's share of the replicas, gated on allocatable GPUs.
When the cluster lacks the runtime's serving stack (``with_stack``) the catalog's stack
add-ons (`stack_addons`) come first and the model depends on them; otherwise the model add-on
stands alone.
`deployment_status` turns a decision into the ``status`` the placement controller writes.
Pure: the controller in the reconciler applies what this returns.
"""

from __future__ import annotations

from typing import Any

from function.catalog.addons import CATALOG, SERVING, VLLM_STACK
from function.compose.addons import catalog_chart
from function.compose.serving import model_addon
from function.compose.sizing import GPU_MEMORY_UTILIZATION, ModelFit, replica_need_bytes
from function.model import bundle
from function.model.bundle import AddonBundleSpec, AddonSpec, HelmSource
from function.model.common import ObjectRef
from function.model.deployment import (
    AIModelDeploymentSpec,
    AIModelDeploymentStatus,
    DeploymentPhase,
)
from function.model.input import CatalogSettings
from function.model.sync import SyncMode
from function.model.xr import Runtime
from function.placement.decide import Assignment, Decision
from function.placement.explain import status_of

DEPLOYMENT_LABEL = "aifleet.io/model-deployment"


def bundle_name(deployment: str, cluster: str) -> str:
    """``team/llama`` on ``team/eu-1`` → ``llama-on-eu-1``."""
    return f"{deployment.split('/')[-1]}-on-{cluster.split('/')[-1]}"


def placement_bundle(
    deployment: str,
    spec: AIModelDeploymentSpec,
    assignment: Assignment,
    cluster_ref: ObjectRef,
    *,
    with_stack: bool,
    catalog: CatalogSettings | None = None,
) -> dict[str, Any]:
    """The AddonBundle that serves ``assignment``'s replicas on its cluster; charts come from
    ``catalog`` (the Input's overrides) as in a composed bundle."""
    catalog = catalog or CatalogSettings()
    model = spec.model.model_copy(update={"replicas": assignment.replicas})
    fit = ModelFit(
        model=model,
        devices_per_replica=assignment.gpus_per_replica,
        need_bytes=replica_need_bytes(model),
        memory_utilization=GPU_MEMORY_UTILIZATION,
    )
    served = model_addon(fit, catalog_chart(VLLM_STACK, catalog, {}))
    addons = stack_addons(model.runtime, catalog) if with_stack else []
    if not with_stack:
        served = served.model_copy(update={"depends_on": []})
    addons.append(served)
    body = AddonBundleSpec(
        cluster_ref=cluster_ref, sync_mode=SyncMode.CONTINUOUS, addons=addons
    ).to_manifest()
    namespace, name = deployment.split("/", 1)
    return {
        "apiVersion": bundle.API_VERSION,
        "kind": bundle.KIND,
        "metadata": {
            "name": bundle_name(deployment, assignment.cluster),
            "namespace": namespace,
            "labels": {DEPLOYMENT_LABEL: name},
        },
        "spec": body,
    }


def stack_addons(runtime: Runtime, catalog: CatalogSettings | None = None) -> list[AddonSpec]:
    """The catalog's serving stack of ``runtime`` as add-ons, in install order."""
    catalog = catalog or CatalogSettings()
    stack = SERVING[runtime].stack
    addons = []
    for name in stack:
        entry = CATALOG[name]
        inside = [d for d in entry.depends_on if d in stack]
        chart = catalog_chart(entry, catalog, {})
        helm = HelmSource(
            repository=chart.repository,
            chart=chart.chart,
            version=chart.version,
            values=dict(entry.values),
        )
        addons.append(AddonSpec(name=name, namespace=entry.namespace, depends_on=inside, helm=helm))
    return addons


def deployment_status(
    decision: Decision, *, serving: frozenset[str] = frozenset(), generation: int | None = None
) -> AIModelDeploymentStatus:
    """The status of a decision; ``serving`` names the clusters whose model add-on is healthy."""
    placements, candidates = status_of(decision)
    placements = [p.model_copy(update={"ready": p.cluster in serving}) for p in placements]
    if not placements:
        phase = DeploymentPhase.PENDING
    elif all(p.ready for p in placements) and decision.complete:
        phase = DeploymentPhase.SERVING
    else:
        phase = DeploymentPhase.PLACING
    return AIModelDeploymentStatus(
        observed_generation=generation,
        phase=phase,
        placements=placements,
        gpus_held=decision.gpus,
        cluster=placements[0].cluster if placements else None,
        message=decision.message,
        candidates=candidates,
    )
