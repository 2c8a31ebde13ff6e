"""Delivery through Crossplane's own providers: no sidecar.

Every Helm add-on becomes a provider-helm ``Release``, every manifest of a manifest add-on a
provider-kubernetes ``Object``, and two ``ProviderConfig``s (one per provider) point both at
the workload cluster's kubeconfig Secret, as the provider family located it. Namespaced (v2)
XRs compose the namespaced ``*.m.crossplane.io`` kinds; legacy cluster-scoped XRs the
cluster-scoped ``helm.crossplane.io`` / ``kubernetes.crossplane.io`` ones.

Order without a sidecar: an add-on's objects are emitted only once the cluster's control plane
accepts requests (the gate the reconciler uses for base add-ons) — for a model server, once the
cluster is available with its workers — and every add-on it depends on is observed
``Ready=True``; once emitted, an object stays emitted (Crossplane would delete it
otherwise). Releases wait for their workloads (``wait: true``) so ``Ready`` means running;
Objects of kinds with a ``Ready`` condition (an InferenceService) derive readiness from it,
others are ready once created. ``Synced=False`` on any of them is an
add-on failure with the provider's message. Schemas: the upstream CRDs under ``tests/schemas/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from function.compose import naming
from function.compose.delivery.mode import (
    Delivered,
    DeliveryPlan,
    DeliveryTarget,
    check_deliverable,
    managed_failure,
    managed_ready,
)
from function.compose.providers.family import ClusterState
from function.compose.readiness import AddonsState
from function.errors import SpecError
from function.model.bundle import AddonSpec, ClusterGate

RELEASE_PREFIX = "release-"
OBJECT_PREFIX = "object-"
HELM_CONFIG = "providerconfig-helm"
KUBERNETES_CONFIG = "providerconfig-kubernetes"
EXTERNAL_NAME = "crossplane.io/external-name"
"""provider-helm names the Helm release after this annotation."""
LABEL_ADDON = f"{naming.LABEL_PREFIX}addon"
READY_CONDITION_KINDS = frozenset({"InferenceService", "LLMInferenceService", "ServingRuntime"})
"""Kinds that report a ``Ready`` condition: their Objects derive readiness from it
(provider-kubernetes' ``DeriveFromObject`` waits for ``Ready=True``); any other Object is
ready once created."""

OBSERVED_PREFIXES: Mapping[str, tuple[str, ...]] = {
    RELEASE_PREFIX: ("status.conditions",),
    OBJECT_PREFIX: ("status.conditions",),
    HELM_CONFIG: ("metadata.name",),
    KUBERNETES_CONFIG: ("metadata.name",),
}

_GROUPS = {
    # (legacy?) → (helm Release, helm ProviderConfig, kubernetes Object, kubernetes ProviderConfig)
    False: (
        "helm.m.crossplane.io/v1beta1",
        "helm.m.crossplane.io/v1beta1",
        "kubernetes.m.crossplane.io/v1alpha1",
        "kubernetes.m.crossplane.io/v1alpha1",
    ),
    True: (
        "helm.crossplane.io/v1beta1",
        "helm.crossplane.io/v1beta1",
        "kubernetes.crossplane.io/v1alpha2",
        "kubernetes.crossplane.io/v1alpha1",
    ),
}


def provider_config_name(xr_name: str) -> str:
    """Both ProviderConfigs of one workload cluster."""
    return f"{xr_name}-workload"


class CrossplaneDelivery:
    """provider-helm Releases and provider-kubernetes Objects, gated on readiness."""

    observed_prefixes = OBSERVED_PREFIXES

    def plan(
        self, target: DeliveryTarget, bundle: dict[str, Any], addons: list[AddonSpec]
    ) -> DeliveryPlan:
        """Every Release, Object and ProviderConfig; the ProviderConfigs from the first run."""
        check_deliverable(addons, target, "crossplane")
        release_api, helm_config_api, object_api, kube_config_api = _GROUPS[target.legacy]
        resources: dict[str, dict[str, Any]] = {
            HELM_CONFIG: _provider_config(helm_config_api, target),
        }
        by_addon: dict[str, tuple[str, ...]] = {}
        for addon in addons:
            if addon.helm is not None:
                name = f"{RELEASE_PREFIX}{addon.name}"
                resources[name] = _release(release_api, target, addon)
                by_addon[addon.name] = (name,)
            else:
                manifests = _manifests(addon, target)
                names = tuple(f"{OBJECT_PREFIX}{addon.name}-{i}" for i in range(len(manifests)))
                for i, (name, manifest) in enumerate(zip(names, manifests, strict=True)):
                    resources[name] = _object(object_api, target, addon, i, manifest)
                by_addon[addon.name] = names
        always = [HELM_CONFIG]
        if any(name.startswith(OBJECT_PREFIX) for name in resources):
            resources[KUBERNETES_CONFIG] = _provider_config(kube_config_api, target)
            always.append(KUBERNETES_CONFIG)
        return DeliveryPlan(
            resources,
            always=tuple(always),
            addons=by_addon,
            depends_on={addon.name: tuple(addon.depends_on) for addon in addons},
            needs_workers=frozenset(
                addon.name
                for addon in addons
                if addon.gate is not ClusterGate.CONTROL_PLANE_INITIALIZED
            ),
        )

    def progress(
        self,
        plan: DeliveryPlan,
        target: DeliveryTarget,
        cluster: ClusterState,
        observed: Mapping[str, Mapping[str, Any]],
        names: list[str],
    ) -> Delivered:
        """Emit the ProviderConfigs, every object already observed, and the objects of each
        add-on whose dependencies are all ready on a cluster that accepts requests."""
        ready = {
            name: managed_ready(observed.get(name))
            for resources in plan.addons.values()
            for name in resources
        }
        ready.update({name: name in observed for name in plan.always})
        addon_ready = {a: all(ready[r] for r in rs) for a, rs in plan.addons.items()}
        open_cluster = cluster.initialized and not cluster.deleting
        emitted = set(plan.always)
        for addon, resources in plan.addons.items():
            seen = any(r in observed for r in resources)
            waits = plan.depends_on.get(addon, ())
            up = open_cluster and (cluster.available or addon not in plan.needs_workers)
            if seen or (up and all(addon_ready.get(d, False) for d in waits)):
                emitted.update(resources)
        failed = tuple(
            (addon, message)
            for addon, resources in plan.addons.items()
            for message in [_first_failure(resources, observed)]
            if message is not None
        )
        state = AddonsState(
            total=len(names),
            ready=tuple(a for a in names if addon_ready.get(a, False)),
            failed=failed,
            current=True,
        )
        return Delivered(
            {
                name: (body, ready.get(name, False))
                for name, body in plan.resources.items()
                if name in emitted
            },
            state,
        )


def _first_failure(resources: tuple[str, ...], observed: Mapping[str, Any]) -> str | None:
    for name in resources:
        message = managed_failure(observed.get(name))
        if message is not None:
            return message
    return None


def _metadata(target: DeliveryTarget, name: str, addon: str | None = None) -> dict[str, Any]:
    labels = {naming.LABEL_CLUSTER: target.xr_name}
    if addon is not None:
        labels[LABEL_ADDON] = addon
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if not target.legacy:
        metadata["namespace"] = target.namespace
    return metadata


def _config_ref(target: DeliveryTarget) -> dict[str, Any]:
    name = provider_config_name(target.xr_name)
    return {"name": name} if target.legacy else {"kind": "ProviderConfig", "name": name}


def _provider_config(api_version: str, target: DeliveryTarget) -> dict[str, Any]:
    secret = target.kubeconfig
    return {
        "apiVersion": api_version,
        "kind": "ProviderConfig",
        "metadata": _metadata(target, provider_config_name(target.xr_name)),
        "spec": {
            "credentials": {
                "source": "Secret",
                "secretRef": {
                    "name": secret.name,
                    "namespace": secret.namespace or target.namespace,
                    "key": secret.key,
                },
            }
        },
    }


def _release(api_version: str, target: DeliveryTarget, addon: AddonSpec) -> dict[str, Any]:
    helm = addon.helm
    assert helm is not None  # only Helm add-ons become Releases
    metadata = _metadata(target, f"{target.xr_name}-{addon.name}", addon.name)
    metadata["annotations"] = {EXTERNAL_NAME: helm.release_name or addon.name}
    for_provider: dict[str, Any] = {
        "chart": {"name": helm.chart, "repository": helm.repository, "version": helm.version},
        "namespace": addon.namespace or target.namespace,
        "wait": True,
    }
    if helm.values:
        for_provider["values"] = helm.values
    if helm.skip_crds:
        for_provider["skipCRDs"] = True
    return {
        "apiVersion": api_version,
        "kind": "Release",
        "metadata": metadata,
        "spec": {"forProvider": for_provider, "providerConfigRef": _config_ref(target)},
    }


def _object(
    api_version: str, target: DeliveryTarget, addon: AddonSpec, index: int, manifest: dict[str, Any]
) -> dict[str, Any]:
    if addon.namespace and "namespace" not in (manifest.get("metadata") or {}):
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": addon.namespace}}
    return {
        "apiVersion": api_version,
        "kind": "Object",
        "metadata": _metadata(target, f"{target.xr_name}-{addon.name}-{index}", addon.name),
        "spec": {
            "forProvider": {"manifest": manifest},
            "readiness": {
                "policy": "DeriveFromObject"
                if manifest.get("kind") in READY_CONDITION_KINDS
                else "SuccessfulCreate"
            },
            "providerConfigRef": _config_ref(target),
        },
    }


def _manifests(addon: AddonSpec, target: DeliveryTarget) -> list[dict[str, Any]]:
    """The add-on's manifests as objects; a stream that is not a list of objects is refused."""
    path = (
        f"spec.addons.extra[{target.extras.index(addon.name)}].manifests"
        if addon.name in target.extras
        else "spec.addons"
    )
    try:
        docs = [d for d in yaml.safe_load_all(addon.manifests or "") if d is not None]
    except yaml.YAMLError as err:
        raise SpecError.at(path, f"add-on {addon.name!r}: manifests are not YAML: {err}") from None
    bad = [i for i, d in enumerate(docs) if not isinstance(d, dict) or not d.get("kind")]
    if bad or not docs:
        raise SpecError.at(
            path, f"add-on {addon.name!r}: every manifest must be an object with a kind"
        )
    return [d if isinstance(d.get("metadata"), dict) else {**d, "metadata": {}} for d in docs]
