"""The AddonBundle of an inference cluster: catalog add-ons, model add-ons and the XR's extras.

Which catalog add-ons a cluster gets follows from its models (`function.catalog.addons`): the
GPU base (NFD, GPU operator, monitoring), the serving stack of every runtime in use, one add-on
per model (`function.compose.serving`), then ``spec.addons.extra``. The XR may disable add-ons
and deep-merge Helm values over the catalog's; the Input may move charts to other repositories
and versions, and pin versions per environment (``promotion``). Every inconsistency — an
unknown name, a disabled add-on another still needs, an extra that reuses a name or closes a
dependency cycle — raises `SpecError` with the field path and the allowed values. The bundle is
built through the contract models of `function.model.bundle`, so the reconciler reads exactly
what is emitted here.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import yaml

from function.catalog.addons import (
    BASE_ADDONS,
    CATALOG,
    GPU_OPERATOR,
    MONITORING,
    SERVING,
    VLLM_STACK,
    CatalogAddon,
    Chart,
)
from function.compose import naming
from function.compose.serving import model_addon
from function.compose.sizing import DEFAULT_REPLICAS_PER_GPU, PoolSize
from function.errors import FieldError, SpecError
from function.model.bundle import (
    API_VERSION,
    KIND,
    AddonBundleSpec,
    AddonSpec,
    HelmSource,
    KubeconfigSecretRef,
    dependency_order,
)
from function.model.common import ObjectRef
from function.model.input import CatalogSettings, FunctionInput
from function.model.values import merge_values
from function.model.xr import ClusterSpec, Sharing


def compose_bundle(
    name: str,
    namespace: str,
    spec: ClusterSpec,
    pool: PoolSize | None,
    settings: FunctionInput,
    cluster_ref: ObjectRef,
    *,
    image_values: Mapping[str, Any] | None = None,
    kubeconfig: KubeconfigSecretRef | None = None,
    wanted: Collection[str] | None = None,
    kind_values: Mapping[str, Mapping[str, Any]] | None = None,
    kind_addons: Sequence[AddonSpec] = (),
) -> tuple[dict[str, Any], list[AddonSpec]]:
    """The desired AddonBundle object and its add-ons, in bundle order.

    ``image_values`` are the GPU operator values the provider family's node image decides
    (who owns the driver and toolkit); ``kubeconfig`` is set where the family's kubeconfig
    Secret is not the one the reconciler finds by convention. An XR kind other than
    AIInferenceCluster names the catalog add-ons it wants (``wanted``; by default the GPU base
    and the serving stacks of the models in ``pool``), values of its own per add-on
    (``kind_values``) and add-ons of its own after the catalog's (``kind_addons``).
    """
    _check_chart_overrides(settings)
    pins = settings.promotion.pins(spec.environment.value)
    overrides = spec.addons
    builtin = _builtin_addons(
        spec, pool, settings.catalog, pins, image_values or {}, wanted, kind_values or {}
    ) + list(kind_addons)
    _check_names(
        [(f"spec.addons.disable[{i}]", n) for i, n in enumerate(overrides.disable)], builtin
    )
    disabled = set(overrides.disable)
    enabled = [addon for addon in builtin if addon.name not in disabled]
    _check_still_needed(enabled, overrides.disable)
    _check_names(
        [(f"spec.addons.values.{n}", n) for n in overrides.values],
        [addon for addon in enabled if addon.helm is not None],
    )
    enabled = [_with_values(addon, overrides.values.get(addon.name)) for addon in enabled]
    _check_extras(enabled, overrides.extra)
    addons = [*enabled, *overrides.extra]
    bundle = AddonBundleSpec(
        cluster_ref=cluster_ref,
        kubeconfig_secret_ref=kubeconfig,
        sync_mode=settings.sync_mode,
        addons=addons,
    )
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": naming.bundle_name(name),
            "namespace": namespace,
            "labels": {naming.LABEL_CLUSTER: name},
        },
        "spec": bundle.to_manifest(),
    }
    return body, addons


def _builtin_addons(
    spec: ClusterSpec,
    pool: PoolSize | None,
    catalog: CatalogSettings,
    pins: Mapping[str, str],
    image_values: Mapping[str, Any],
    wanted: Collection[str] | None,
    kind_values: Mapping[str, Mapping[str, Any]],
) -> list[AddonSpec]:
    models = pool.models if pool is not None else ()
    if wanted is None:
        runtimes = {fit.model.runtime for fit in models}
        wanted = set(BASE_ADDONS).union(*(SERVING[r].stack for r in runtimes))
    monitoring = MONITORING.name in wanted and MONITORING.name not in spec.addons.disable
    addons = [
        _catalog_addon(
            entry,
            catalog_chart(entry, catalog, pins),
            merge_values(
                _dynamic_values(entry, spec, monitoring, image_values),
                kind_values.get(entry.name, {}),
            ),
        )
        for entry in CATALOG.values()
        if entry.name in wanted
    ]
    vllm_chart = catalog_chart(VLLM_STACK, catalog, pins)
    return addons + [model_addon(fit, vllm_chart) for fit in models]


def catalog_chart(entry: CatalogAddon, catalog: CatalogSettings, pins: Mapping[str, str]) -> Chart:
    """Where one catalog chart comes from: the environment's pin, then the Input's override,
    then the catalog."""
    override = catalog.charts.get(entry.name)
    return Chart(
        repository=(override and override.repository)
        or catalog.repository
        or entry.chart.repository,
        chart=entry.chart.chart,
        version=pins.get(entry.name) or (override and override.version) or entry.chart.version,
    )


def _catalog_addon(entry: CatalogAddon, chart: Chart, values: Mapping[str, Any]) -> AddonSpec:
    return AddonSpec(
        name=entry.name,
        depends_on=list(entry.depends_on),
        namespace=entry.namespace,
        helm=HelmSource(
            repository=chart.repository,
            chart=chart.chart,
            version=chart.version,
            values=merge_values(entry.values, values),
        ),
    )


def _dynamic_values(
    entry: CatalogAddon,
    spec: ClusterSpec,
    monitoring: bool,
    image_values: Mapping[str, Any],
) -> dict[str, Any]:
    """Values of a catalog add-on that depend on the XR (only the GPU operator has any)."""
    if entry is not GPU_OPERATOR:
        return {}
    values: dict[str, Any] = {"dcgmExporter": {"serviceMonitor": {"enabled": monitoring}}}
    values |= image_values
    if spec.gpu.sharing is Sharing.TIME_SLICING:
        values["devicePlugin"] = {"config": _time_slicing_config(spec)}
    elif spec.gpu.sharing is Sharing.MIG:
        values["mig"] = {"strategy": "single"}
        values["migManager"] = {
            "enabled": True,
            "config": {"default": f"all-{spec.gpu.mig_profile}"},
        }
    return values


def _time_slicing_config(spec: ClusterSpec) -> dict[str, Any]:
    """The device plugin's time-slicing configuration, as the GPU operator's values take it."""
    replicas = spec.gpu.replicas_per_gpu or DEFAULT_REPLICAS_PER_GPU
    return {
        "create": True,
        "name": "time-slicing-config",
        "default": "any",
        "data": {"any": _time_slicing_yaml(replicas)},
    }


@functools.lru_cache(maxsize=16)
def _time_slicing_yaml(replicas: int) -> str:
    config = {
        "version": "v1",
        "sharing": {
            "timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": replicas}]}
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def _with_values(addon: AddonSpec, values: Mapping[str, Any] | None) -> AddonSpec:
    if not values or addon.helm is None:
        return addon
    helm = addon.helm.model_copy(update={"values": merge_values(addon.helm.values, values)})
    return addon.model_copy(update={"helm": helm})


def _check_chart_overrides(settings: FunctionInput) -> None:
    """Chart overrides and promotion pins name catalog add-ons."""
    named = [f"input.catalog.charts.{name}" for name in settings.catalog.charts]
    promotion = settings.promotion
    for environment in ("dev", "staging", "prod"):
        named += [f"input.promotion.{environment}.{name}" for name in promotion.pins(environment)]
    unknown = [path for path in named if path.rsplit(".", 1)[1] not in CATALOG]
    if unknown:
        raise SpecError(
            [
                FieldError(path, f"unknown catalog add-on; allowed: {', '.join(CATALOG)}")
                for path in unknown
            ]
        )


def _check_names(references: list[tuple[str, str]], addons: list[AddonSpec]) -> None:
    """Each (field path, add-on name) must name one of ``addons``."""
    known = [addon.name for addon in addons]
    errors = [
        FieldError(path, f"unknown add-on {name!r}; allowed: {', '.join(known)}")
        for path, name in references
        if name not in known
    ]
    if errors:
        raise SpecError(errors)


def _check_still_needed(enabled: list[AddonSpec], disable: list[str]) -> None:
    errors = []
    for i, name in enumerate(disable):
        dependants = [addon.name for addon in enabled if name in addon.depends_on]
        if dependants:
            errors.append(
                FieldError(
                    f"spec.addons.disable[{i}]",
                    f"add-on {name!r} is needed by {', '.join(dependants)}; "
                    "disable those too or keep it",
                )
            )
    if errors:
        raise SpecError(errors)


def _check_extras(builtin: list[AddonSpec], extras: list[AddonSpec]) -> None:
    """Extras get unique names and known dependencies; cycles are found among them alone."""
    builtin_names = {addon.name for addon in builtin}
    known = [addon.name for addon in builtin] + [addon.name for addon in extras]
    errors = [
        FieldError(
            f"spec.addons.extra[{i}].name",
            f"add-on name {addon.name!r} is already used by a built-in add-on",
        )
        for i, addon in enumerate(extras)
        if addon.name in builtin_names
    ]
    errors += [
        FieldError(
            f"spec.addons.extra[{i}].dependsOn[{j}]",
            f"unknown add-on {dep!r}; allowed: {', '.join(known)}",
        )
        for i, addon in enumerate(extras)
        for j, dep in enumerate(addon.depends_on)
        if dep not in known
    ]
    if errors:
        raise SpecError(errors)
    # Built-in add-ons never depend on extras, so any cycle lies among the extras.
    among_extras = [
        addon.model_copy(
            update={"depends_on": [d for d in addon.depends_on if d not in builtin_names]}
        )
        for addon in extras
    ]
    dependency_order(among_extras, root="spec.addons.extra")
