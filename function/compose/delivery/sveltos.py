"""Delivery through Sveltos, for shops that already run it: one profile per dependency tier.

The add-ons are cut into tiers by dependency depth (tier 0 depends on nothing, tier n on
something in tier n-1); each tier is a ``config.projectsveltos.io/v1beta1`` profile selecting
this one cluster by ``clusterRefs``, with a ``helmCharts`` entry per Helm add-on and a
``policyRefs`` entry per manifest add-on (its manifests in a ConfigMap beside the profile), and
``dependsOn`` the previous tier, so Sveltos deploys the tiers in order. Namespaced (v2) XRs
compose a namespaced ``Profile``; legacy cluster-scoped XRs a ``ClusterProfile``. The profiles
carry the Input's ``syncMode``. A tier's add-ons are ready when the profile reports this
cluster updated (and not updating), failed when it lists the cluster among its failures.
Sveltos targets Cluster API ``Cluster``s directly; any other cluster (one a Crossplane provider
made) is registered as a ``SveltosCluster`` (``lib.projectsveltos.io/v1beta1``) naming the
kubeconfig Secret and key its family located, and the profiles select that.
Schemas: the upstream CRDs under ``tests/schemas/``.
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
)
from function.compose.providers.family import ClusterState
from function.compose.readiness import AddonsState
from function.model.bundle import AddonSpec, HelmHooks
from function.model.common import ObjectRef

API_VERSION = "config.projectsveltos.io/v1beta1"
PROFILE_PREFIX = "profile-tier-"
CONFIGMAP_PREFIX = "configmap-"
SVELTOS_CLUSTER = "sveltoscluster"
SVELTOS_CLUSTER_API_VERSION = "lib.projectsveltos.io/v1beta1"
CAPI_GROUP = "cluster.x-k8s.io"
MANIFESTS_KEY = "manifests.yaml"
LABEL_TIER = f"{naming.LABEL_PREFIX}tier"

OBSERVED_PREFIXES: Mapping[str, tuple[str, ...]] = {
    PROFILE_PREFIX: ("status.updatedClusters", "status.updatingClusters", "status.failedClusters"),
    CONFIGMAP_PREFIX: ("metadata.name",),
    SVELTOS_CLUSTER: ("status.ready",),
}
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def tiers(addons: list[AddonSpec]) -> list[list[AddonSpec]]:
    """Add-ons by dependency depth, in bundle order within a tier (the bundle is ordered, so
    every dependency comes before its dependants)."""
    depth: dict[str, int] = {}
    for addon in addons:
        depth[addon.name] = 1 + max((depth[d] for d in addon.depends_on), default=-1)
    out: list[list[AddonSpec]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for addon in addons:
        out[depth[addon.name]].append(addon)
    return out


def profile_name(xr_name: str, tier: int) -> str:
    """The profile of one dependency tier."""
    return f"{xr_name}-tier-{tier}"


class SveltosDelivery:
    """Sveltos profiles chained by dependency tier."""

    observed_prefixes = OBSERVED_PREFIXES

    def plan(
        self, target: DeliveryTarget, bundle: dict[str, Any], addons: list[AddonSpec]
    ) -> DeliveryPlan:
        """Every profile and ConfigMap, all emitted from the first run: Sveltos itself waits
        for the cluster and for each profile's dependencies."""
        check_deliverable(addons, target, "sveltos")
        resources: dict[str, dict[str, Any]] = {}
        if _registered(target):
            resources[SVELTOS_CLUSTER] = _sveltos_cluster(target)
        by_addon: dict[str, tuple[str, ...]] = {}
        for tier, members in enumerate(tiers(addons)):
            name = f"{PROFILE_PREFIX}{tier}"
            for addon in members:
                if addon.helm is None:
                    resources[f"{CONFIGMAP_PREFIX}{addon.name}"] = _configmap(target, addon)
            resources[name] = _profile(target, tier, members)
            by_addon.update({addon.name: (name,) for addon in members})
        return DeliveryPlan(resources, always=tuple(resources), addons=by_addon)

    def progress(
        self,
        plan: DeliveryPlan,
        target: DeliveryTarget,
        cluster: ClusterState,
        observed: Mapping[str, Mapping[str, Any]],
        names: list[str],
    ) -> Delivered:
        """Each profile's report on this cluster."""
        ref = selected(target)
        ready: dict[str, bool] = {}
        failures: dict[str, str] = {}
        for name in plan.resources:
            status = (observed.get(name) or {}).get("status") or {}
            if name == SVELTOS_CLUSTER:
                ready[name] = status.get("ready") is True
                continue
            if not name.startswith(PROFILE_PREFIX):
                ready[name] = name in observed
                continue
            updated = _has(((status.get("updatedClusters") or {}).get("clusters")), ref)
            updating = _has(((status.get("updatingClusters") or {}).get("clusters")), ref)
            ready[name] = updated and not updating
            for failure in status.get("failedClusters") or []:
                if isinstance(failure, dict) and _is(failure.get("clusterRef"), ref):
                    failures[name] = str(failure.get("failureMessage") or "failed")
        state = AddonsState(
            total=len(names),
            ready=tuple(a for a in names if all(ready[r] for r in plan.addons.get(a, ("",)))),
            failed=tuple(
                (a, failures[rs[0]]) for a, rs in plan.addons.items() if rs[0] in failures
            ),
            current=True,
        )
        return Delivered(
            {name: (body, ready[name]) for name, body in plan.resources.items()}, state
        )


def _has(refs: Any, ref: Any) -> bool:
    return isinstance(refs, list) and any(_is(r, ref) for r in refs)


def _is(found: Any, ref: Any) -> bool:
    return (
        isinstance(found, dict)
        and found.get("kind") == ref.kind
        and found.get("name") == ref.name
        and (found.get("namespace") or None) == ref.namespace
    )


def _metadata(target: DeliveryTarget, name: str, **labels: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {naming.LABEL_CLUSTER: target.xr_name, **labels},
    }
    if not target.legacy:
        metadata["namespace"] = target.namespace
    return metadata


def _registered(target: DeliveryTarget) -> bool:
    """Whether the cluster needs a SveltosCluster: it is no Cluster API ``Cluster``."""
    ref = target.cluster_ref
    return not (ref.kind == "Cluster" and ref.api_version.split("/")[0] == CAPI_GROUP)


def selected(target: DeliveryTarget) -> ObjectRef:
    """The cluster the profiles select: the Cluster API Cluster, or the SveltosCluster."""
    if not _registered(target):
        return target.cluster_ref
    return ObjectRef(
        api_version=SVELTOS_CLUSTER_API_VERSION,
        kind="SveltosCluster",
        name=target.xr_name,
        namespace=target.namespace,
    )


def _sveltos_cluster(target: DeliveryTarget) -> dict[str, Any]:
    metadata = _metadata(target, target.xr_name)
    metadata["namespace"] = target.namespace
    return {
        "apiVersion": SVELTOS_CLUSTER_API_VERSION,
        "kind": "SveltosCluster",
        "metadata": metadata,
        "spec": {
            "kubeconfigName": target.kubeconfig.name,
            "kubeconfigKeyName": target.kubeconfig.key,
        },
    }


def _profile(target: DeliveryTarget, tier: int, members: list[AddonSpec]) -> dict[str, Any]:
    ref = selected(target)
    spec: dict[str, Any] = {
        "clusterRefs": [
            {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "name": ref.name,
                "namespace": ref.namespace,
            }
        ],
        "syncMode": target.sync_mode.value,
    }
    if tier > 0:
        spec["dependsOn"] = [profile_name(target.xr_name, tier - 1)]
    charts = [_chart(target, addon) for addon in members if addon.helm is not None]
    if charts:
        spec["helmCharts"] = charts
    policies = [
        {
            "kind": "ConfigMap",
            "namespace": target.namespace,
            "name": _configmap_name(target, addon),
        }
        for addon in members
        if addon.helm is None
    ]
    if policies:
        spec["policyRefs"] = policies
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterProfile" if target.legacy else "Profile",
        "metadata": _metadata(
            target, profile_name(target.xr_name, tier), **{LABEL_TIER: str(tier)}
        ),
        "spec": spec,
    }


def _chart(target: DeliveryTarget, addon: AddonSpec) -> dict[str, Any]:
    helm = addon.helm
    assert helm is not None
    chart: dict[str, Any] = {
        "repositoryURL": helm.repository,
        "repositoryName": addon.name,
        "chartName": helm.chart
        if helm.repository.startswith("oci://")
        else f"{addon.name}/{helm.chart}",  # Sveltos names HTTP charts <repositoryName>/<chart>
        "chartVersion": helm.version,
        "releaseName": helm.release_name or addon.name,
        "releaseNamespace": addon.namespace or target.namespace,
        "helmChartAction": "Install",
    }
    if helm.values:
        chart["values"] = yaml.dump(helm.values, Dumper=_Dumper, sort_keys=False)
    options = {"skipCRDs": True} if helm.skip_crds else {}
    if helm.hooks is HelmHooks.SKIP:
        options["disableHooks"] = True
    if options:
        chart["options"] = options
    return chart


def _configmap_name(target: DeliveryTarget, addon: AddonSpec) -> str:
    return f"{target.xr_name}-{addon.name}"


def _configmap(target: DeliveryTarget, addon: AddonSpec) -> dict[str, Any]:
    metadata = _metadata(target, _configmap_name(target, addon))
    metadata["namespace"] = target.namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {MANIFESTS_KEY: addon.manifests or ""},
    }
