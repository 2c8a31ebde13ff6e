"""The AddonBundle contract: what the function emits and the reconciler applies.

An `AddonBundle` (``addons.aifleet.io/v1alpha1``, namespaced) names its target cluster (or a
label selector over clusters), how to keep add-ons in sync, and an ordered set of add-ons:
Helm charts and/or Jinja2 manifest streams with their dependencies, health rules and drift
exclusions. The function builds `AddonBundleSpec` objects in `function.compose.addons`; the
reconciler parses bundles with `parse_bundle_spec` and orders add-ons with `dependency_order`.
Sync modes and their policies are in `function.model.sync`; the status the reconciler
writes, which the function reads, is in `function.model.bundlestatus`.
"""

from __future__ import annotations

import re
import weakref
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Self

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from function.errors import FieldError, SpecError
from function.model.common import DNS_LABEL, LabelSelector, ObjectRef, Spec, cel, parse
from function.model.limits import MAX_BUNDLE_DEPTH
from function.model.sync import (
    DEFAULT_SYNC_MODE,
    SYNC_MODE_DESCRIPTION,
    SYNC_POLICIES,
    SyncMode,
    SyncPolicy,
)

GROUP = "addons.aifleet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "AddonBundle"
CHART_REPOSITORY = r"^(https?|oci|file)://"
"""Where a chart comes from: an https:// index, an oci:// registry or a file:// directory."""
MAX_DEPENDENCIES = 32
"""Add-ons one add-on may depend on: bounds the CEL rule over ``dependsOn``."""
MAX_ADDONS = 128
"""Add-ons of one bundle or trigger: bounds the CEL rules over names and dependencies."""

ADDON_LIST_RULES = (
    cel(
        "!has(self.addons) || self.addons.all(a, self.addons.exists_one(b, b.name == a.name))",
        "add-on names must be unique",
        ".addons",
    ),
    cel(
        "!has(self.addons) || self.addons.all(a, !has(a.dependsOn) "
        "|| a.dependsOn.all(d, self.addons.exists(b, b.name == d)))",
        "every dependsOn must name an add-on of this list",
        ".addons",
    ),
)
"""What `dependency_order` checks besides cycles (CEL cannot follow a path of any length;
the reconciler reports a cycle in the object's status)."""


class StopMatchingBehavior(StrEnum):
    """What happens to applied add-ons when the bundle stops targeting a cluster."""

    WITHDRAW_ADDONS = "WithdrawAddons"
    LEAVE_ADDONS = "LeaveAddons"


class ClusterGate(StrEnum):
    """How ready the cluster must be before an add-on is applied.

    Base add-ons (NFD, the GPU operator, monitoring) need only an initialized control plane;
    model servers need workers, and GPUs the scheduler can allocate.
    """

    CONTROL_PLANE_INITIALIZED = "ControlPlaneInitialized"
    WORKERS_AVAILABLE = "WorkersAvailable"
    GPU_ALLOCATABLE = "GPUAllocatable"


class HelmHooks(StrEnum):
    """What becomes of a chart's install and upgrade hooks (``helm.sh/hook`` objects).

    Helm runs hooks as phases around an install: it creates pre-install objects, waits for
    them, installs the chart, then runs post-install ones, deleting each by its delete policy.
    The reconciler applies a chart as one converged set of objects, so it does not run hooks:
    it refuses a chart that renders them unless told to leave them out, as
    ``helm install --no-hooks`` does. Test, delete and rollback hooks are always left out.
    """

    REFUSE = "Refuse"
    SKIP = "Skip"


class ChartSecretRef(Spec):
    """The Secret, in the bundle's namespace, holding what a private chart repository asks for.

    Its keys: ``username`` and ``password`` (basic auth; a ``kubernetes.io/basic-auth``
    Secret), or ``token`` (a bearer token, https:// repositories), or ``.dockerconfigjson``
    (a ``kubernetes.io/dockerconfigjson`` Secret: the registry configuration for oci://, the
    repository host's entry for https://); and, with any of them or alone, ``ca.crt``: the
    PEM CA bundle that signs the repository's TLS certificate.
    """

    name: str = Field(min_length=1, description="Secret name in the bundle's namespace.")


class HelmSource(Spec):
    """A Helm chart, its version, its values, and how to reach a private repository."""

    CEL = (
        cel(
            "!self.repository.startsWith('file://') || (!has(self.credentialsSecretRef) "
            "&& (!has(self.insecureSkipTLSVerify) || !self.insecureSkipTLSVerify))",
            "a file:// repository takes no credentials or TLS settings",
        ),
    )

    repository: str = Field(
        pattern=CHART_REPOSITORY,
        description="Chart repository: https:// (index.yaml), oci:// registry, or file:// "
        "directory of charts (offline use).",
    )
    chart: str = Field(min_length=1, description="Chart name in the repository.")
    version: str = Field(min_length=1, description="Exact chart version.")
    release_name: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        description="Helm release name; defaults to the add-on name.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Chart values; string leaves are Jinja2 templates over the cluster context.",
    )
    values_template: str | None = Field(
        default=None,
        description="A Jinja2 template of YAML values, rendered and deep-merged over `values`.",
    )
    skip_crds: bool = Field(
        default=False,
        description="Leave out the chart's crds/ directories, as helm install --skip-crds.",
    )
    hooks: HelmHooks = Field(
        default=HelmHooks.REFUSE,
        description="Install and upgrade hooks (helm.sh/hook): Refuse a chart that renders "
        "them, or Skip them as helm install --no-hooks. Provider-helm and Sveltos run hooks "
        "as Helm does; Skip also disables them for Sveltos.",
    )
    credentials_secret_ref: ChartSecretRef | None = Field(
        default=None,
        description="Secret in the bundle's namespace with the repository's credentials: "
        "username and password, token (bearer, https:// only), or .dockerconfigjson; and "
        "optionally ca.crt, a PEM CA bundle for the repository's TLS certificate.",
    )
    pass_credentials: bool = Field(
        default=False,
        description="Send the credentials to chart downloads on another host than the "
        "repository's too, as helm --pass-credentials.",
    )
    insecure_skip_tls_verify: bool = Field(
        default=False,
        alias="insecureSkipTLSVerify",
        description="Do not verify the repository's TLS certificate, as helm "
        "--insecure-skip-tls-verify.",
    )

    @model_validator(mode="after")
    def _remote_access(self) -> Self:
        local = self.repository.startswith("file://")
        if local and (self.credentials_secret_ref is not None or self.insecure_skip_tls_verify):
            raise ValueError("a file:// repository takes no credentials or TLS settings")
        return self


class SourceKind(StrEnum):
    """Kinds an add-on may read manifests from."""

    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"


class ManifestSource(Spec):
    """A ConfigMap or Secret in the management cluster whose data keys hold manifests."""

    kind: SourceKind = Field(description="ConfigMap or Secret.")
    name: str = Field(min_length=1, description="Name of the ConfigMap or Secret.")
    namespace: str | None = Field(
        default=None, description="Namespace; defaults to the bundle's namespace."
    )
    optional: bool = Field(default=False, description="Skip silently when the object is absent.")


class Health(Spec):
    """What 'healthy' means for an add-on before its dependants may start."""

    builtin: bool = Field(
        default=True,
        description="Apply the built-in checks (Deployment, StatefulSet, DaemonSet, Job, CRD, "
        "ClusterPolicy, Ready conditions) to the add-on's objects.",
    )
    lua: str | None = Field(
        default=None, description="A Lua health rule (Sveltos' evaluate() contract)."
    )


class DriftTarget(Spec):
    """Which applied objects a drift exclusion covers; unset fields match anything."""

    group: str | None = Field(default=None, description="API group ('' for the core group).")
    version: str | None = Field(default=None, description="API version.")
    kind: str | None = Field(default=None, description="Kind.")
    name: str | None = Field(default=None, description="Object name.")
    namespace: str | None = Field(default=None, description="Object namespace.")


class DriftExclusion(Spec):
    """Field paths that may change in the workload cluster without counting as drift."""

    paths: list[str] = Field(
        min_length=1, description="JSON pointer-like paths, e.g. /spec/replicas."
    )
    target: DriftTarget | None = Field(default=None, description="Objects the paths apply to.")


class AddonSpec(Spec):
    """One add-on: a chart and/or manifests, applied as a unit after its dependencies."""

    CEL = (
        cel(
            "has(self.helm) || has(self.manifests) "
            "|| (has(self.manifestsFrom) && size(self.manifestsFrom) > 0)",
            "an add-on needs helm, manifests or manifestsFrom",
        ),
        cel(
            "!has(self.dependsOn) || !(self.name in self.dependsOn)",
            "an add-on cannot depend on itself",
            ".dependsOn",
        ),
    )

    name: str = Field(pattern=DNS_LABEL, max_length=53, description="Unique add-on name.")
    depends_on: list[str] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
        description="Add-ons that must be healthy before this one starts.",
    )
    namespace: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        description="Namespace for the add-on's namespaced objects; created if missing.",
    )
    gate: ClusterGate = Field(
        default=ClusterGate.CONTROL_PLANE_INITIALIZED,
        description="How ready the cluster must be before this add-on is applied.",
    )
    helm: HelmSource | None = Field(default=None, description="A Helm chart to render and apply.")
    manifests: str | None = Field(
        default=None, description="An inline Jinja2 template of a YAML stream of objects."
    )
    manifests_from: list[ManifestSource] = Field(
        default_factory=list, description="ConfigMaps/Secrets whose data hold manifest templates."
    )
    health: Health = Field(default_factory=Health, description="Health rules of the add-on.")
    drift_exclusions: list[DriftExclusion] = Field(
        default_factory=list, description="Fields excluded from drift detection."
    )
    force_conflicts: bool = Field(
        default=False,
        description="Take ownership of fields another field manager owns (server-side apply "
        "force); otherwise such a conflict fails the add-on.",
    )

    @model_validator(mode="after")
    def _has_content(self) -> Self:
        if self.helm is None and self.manifests is None and not self.manifests_from:
            raise ValueError("an add-on needs helm, manifests or manifestsFrom")
        if self.name in self.depends_on:
            raise ValueError(f"add-on {self.name!r} depends on itself")
        return self


class TemplateResourceRef(Spec):
    """A management-cluster object exposed to templates as ``resources[identifier]``."""

    identifier: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Name in templates.")
    resource: ObjectRef = Field(description="The object to read.")
    optional: bool = Field(default=False, description="Render without it when it is absent.")


class KubeconfigSecretRef(Spec):
    """Where the workload cluster's kubeconfig lives, when the convention does not say."""

    name: str = Field(min_length=1, description="Secret name in the bundle's namespace.")
    key: str = Field(default="kubeconfig", description="Data key holding the kubeconfig.")


class EventData(Spec):
    """The event a bundle's add-ons were instantiated for (written by an EventTrigger)."""

    trigger: str = Field(min_length=1, description="The EventTrigger that made this bundle.")
    source_cluster: str = Field(min_length=1, description="The cluster the event happened on.")
    resource: dict[str, Any] | None = Field(
        default=None,
        description="The matching object (oneForEvent): the whole object with "
        "collectResources, else its apiVersion, kind, name and namespace. Templates: resource.",
    )
    matching_resources: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every matching object of the source cluster, in the same form. "
        "Templates: matchingResources.",
    )


_PERCENT_PATTERN = r"^([1-9][0-9]?|100)%$"
IntOrPercent = Annotated[
    int | str,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                cel(
                    f"type(self) == int ? self >= 1 : self.matches('{_PERCENT_PATTERN}')",
                    "must be a count of at least 1 or a percentage from 1% to 100%",
                )
            ],
        }
    ),
]
"""A count (``2``) or a percentage of a whole (``"20%"``), as Kubernetes' IntOrString."""

_PERCENT = re.compile(_PERCENT_PATTERN)


def rollout_limit(max_update: int | str, clusters: int) -> int:
    """How many of ``clusters`` may be updating at once: the count, or the percentage of the
    clusters rounded down, never fewer than one."""
    if isinstance(max_update, int):
        return max_update
    return max(1, clusters * int(max_update[:-1]) // 100)


class AddonBundleSpec(Spec):
    """The spec of an AddonBundle."""

    CEL = (
        cel(
            "has(self.clusterRef) != has(self.clusterSelector)",
            "exactly one of clusterRef and clusterSelector must be set",
        ),
        cel(
            "!has(self.kubeconfigSecretRef) || has(self.clusterRef)",
            "kubeconfigSecretRef needs clusterRef",
            ".kubeconfigSecretRef",
        ),
        *ADDON_LIST_RULES,
    )

    cluster_ref: ObjectRef | None = Field(
        default=None,
        description="The one cluster (CAPI Cluster, XR or managed resource) to target.",
    )
    cluster_selector: LabelSelector | None = Field(
        default=None, description="Target every CAPI Cluster in the namespace with these labels."
    )
    kubeconfig_secret_ref: KubeconfigSecretRef | None = Field(
        default=None,
        description="Kubeconfig Secret of clusterRef; defaults to <name>-kubeconfig/value for "
        "Cluster API and to the managed resource's connection Secret for Crossplane.",
    )
    sync_mode: SyncMode = Field(default=DEFAULT_SYNC_MODE, description=SYNC_MODE_DESCRIPTION)
    stop_matching_behavior: StopMatchingBehavior = Field(
        default=StopMatchingBehavior.WITHDRAW_ADDONS,
        description="What happens to add-ons on a cluster the bundle no longer targets.",
    )
    template_resource_refs: list[TemplateResourceRef] = Field(
        default_factory=list, description="Management-cluster objects exposed to templates."
    )
    tier: int = Field(
        default=100,
        ge=1,
        description="Precedence when two bundles apply the same object to one cluster: the "
        "lower tier wins and takes the object; the other reports Conflict naming the winner "
        "(equal tiers: the bundle that applied it first keeps it).",
    )
    continue_on_conflict: bool = Field(
        default=False,
        description="Apply an add-on's other objects when some conflict with another bundle's "
        "(the conflicts are still reported); otherwise the add-on fails with nothing applied.",
    )
    max_update: IntOrPercent | None = Field(
        default=None,
        description="How many target clusters a change of the bundle rolls onto at once: a "
        "count or a percentage of the targets (rounded down, at least 1). A cluster is done "
        "when its add-ons are healthy; a cluster that fails stops the rollout. Unset: all.",
    )
    addons: list[AddonSpec] = Field(
        default_factory=list, max_length=MAX_ADDONS, description="The add-ons to apply."
    )
    event_data: EventData | None = Field(
        default=None,
        description="Set by an EventTrigger on the bundles it instantiates: the event that "
        "templates see as resource and matchingResources.",
    )

    def to_manifest(self) -> dict[str, Any]:
        """The short wire form, always stating ``syncMode``: a composed bundle says how it is
        kept rather than leaving it to the CRD's default."""
        full = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        short = super().to_manifest()
        return {k: short.get(k, v) for k, v in full.items() if k in short or k == "syncMode"}

    @property
    def policy(self) -> SyncPolicy:
        """What the bundle's sync mode has the reconciler do."""
        return SYNC_POLICIES[self.sync_mode]

    @field_validator("max_update")
    @classmethod
    def _limit(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, bool) or (isinstance(value, int) and value < 1):
            raise ValueError("must be a count of at least 1 or a percentage such as '20%'")
        if isinstance(value, str) and not _PERCENT.match(value):
            raise ValueError(f"{value!r} is not a percentage from 1% to 100% nor a count")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.cluster_ref is None) == (self.cluster_selector is None):
            raise ValueError("exactly one of clusterRef and clusterSelector must be set")
        if self.kubeconfig_secret_ref is not None and self.cluster_ref is None:
            raise ValueError("kubeconfigSecretRef needs clusterRef")
        return self


def parse_bundle_spec(data: Any, *, root: str = "spec") -> AddonBundleSpec:
    """Parse and check an AddonBundle spec: fields, unique names, known dependencies, no cycle."""
    spec = parse(AddonBundleSpec, data, root=root, max_depth=MAX_BUNDLE_DEPTH)
    dependency_order(spec.addons, root=f"{root}.addons")
    addons = [_shared_addon(addon) for addon in spec.addons]
    if any(a is not b for a, b in zip(addons, spec.addons, strict=True)):
        spec = spec.model_copy(update={"addons": addons})
    return spec


_addons: weakref.WeakValueDictionary[str, AddonSpec] = weakref.WeakValueDictionary()
"""Parsed add-ons by their content. A fleet's bundles are mostly the same add-ons (one
bundle per cluster, composed from one Input): equal add-ons are held once, for as long as a
parsed bundle holds them (specs are frozen, so sharing is safe)."""


def _shared_addon(addon: AddonSpec) -> AddonSpec:
    key = addon.model_dump_json()
    shared = _addons.get(key)
    if shared is None:
        _addons[key] = shared = addon
    return shared


def dependency_order(addons: list[AddonSpec], *, root: str = "spec.addons") -> list[AddonSpec]:
    """The add-ons in an order where each comes after everything it depends on.

    Ties keep the order of the list, so a bundle applies the same way every time.
    Raises `SpecError` naming the add-on for duplicate names, unknown dependencies or a cycle.
    """
    index: dict[str, int] = {}
    errors: list[FieldError] = []
    for i, addon in enumerate(addons):
        if addon.name in index:
            errors.append(FieldError(f"{root}[{i}].name", f"duplicate add-on name {addon.name!r}"))
        index.setdefault(addon.name, i)
    for i, addon in enumerate(addons):
        for j, dep in enumerate(addon.depends_on):
            if dep not in index:
                errors.append(
                    FieldError(
                        f"{root}[{i}].dependsOn[{j}]",
                        f"unknown add-on {dep!r}; known: {', '.join(index) or 'none'}",
                    )
                )
    if errors:
        raise SpecError(errors)

    sorter: TopologicalSorter[int] = TopologicalSorter()
    for i, addon in enumerate(addons):
        sorter.add(i, *(index[d] for d in addon.depends_on))
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = [addons[i].name for i in exc.args[1]]
        first = index[cycle[0]]
        raise SpecError.at(
            f"{root}[{first}].dependsOn", f"dependency cycle: {' -> '.join(cycle)}"
        ) from None
    ordered: list[int] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(ready)
        sorter.done(*ready)
    return [addons[i] for i in ordered]
