"""The one protocol every add-on delivery mode implements, and the values it trades in.

A delivery mode (`function.model.input.Delivery`) decides how the add-ons composed by
`function.compose.addons` reach the workload cluster. It works in two steps, so the pipeline
can memoise the first: `DeliveryMode.plan` turns the add-ons into every object the mode may
emit (pure, from the spec alone), and `DeliveryMode.progress` reads the observed state on every
run to say which of those objects to emit now, which are ready, and how far the add-ons have
come. `function.compose.delivery` holds the table of modes; `function.compose.pipeline` picks
one by ``input.delivery``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from function.compose.providers.family import ClusterState
from function.compose.providers.managed import condition, managed_failure, managed_ready
from function.compose.readiness import AddonsState
from function.errors import FieldError, SpecError
from function.model.bundle import AddonSpec
from function.model.common import ObjectRef
from function.model.sync import SyncMode
from function.model.values import string_leaves
from function.model.xrstatus import SecretKeyRef

__all__ = [
    "Delivered",
    "DeliveryMode",
    "DeliveryPlan",
    "DeliveryTarget",
    "check_deliverable",
    "condition",
    "managed_failure",
    "managed_ready",
]

_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
"""Jinja2 markers: what only the companion reconciler renders."""


@dataclass(frozen=True)
class DeliveryTarget:
    """Where the add-ons go and on whose behalf."""

    xr_name: str
    namespace: str
    """The tenant namespace: the XR's, or its claim's for a legacy XR."""
    legacy: bool
    """A cluster-scoped (Crossplane 1.x) XR, which composes the cluster-scoped kinds."""
    cluster_ref: ObjectRef
    kubeconfig: SecretKeyRef
    sync_mode: SyncMode
    extras: tuple[str, ...] = ()
    """Names of the XR's ``spec.addons.extra``, in order (to name a field path in errors)."""


@dataclass(frozen=True)
class DeliveryPlan:
    """Every object a mode may emit for one XR, and how they map to add-ons."""

    resources: dict[str, dict[str, Any]]
    """Desired objects by composition resource name (shared: never mutate them)."""
    always: tuple[str, ...] = ()
    """Resources emitted from the first run on, whatever the observed state."""
    addons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Add-on → the resources that deliver it."""
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Add-on → the add-ons it waits for."""
    needs_workers: frozenset[str] = frozenset()
    """Add-ons that wait for the cluster's workers too (model servers), not only its control
    plane."""


@dataclass(frozen=True)
class Delivered:
    """What one run emits: resources with their readiness, and the add-ons' progress."""

    resources: dict[str, tuple[dict[str, Any], bool]]
    addons: AddonsState


class DeliveryMode(Protocol):
    """One way of getting add-ons onto a workload cluster."""

    @property
    def observed_prefixes(self) -> Mapping[str, tuple[str, ...]]:
        """Fields (dotted paths) `progress` reads of observed resources, by name prefix."""
        ...

    def plan(
        self, target: DeliveryTarget, bundle: dict[str, Any], addons: list[AddonSpec]
    ) -> DeliveryPlan:
        """Every object the mode may emit; raises `SpecError` for an add-on it cannot deliver."""
        ...

    def progress(
        self,
        plan: DeliveryPlan,
        target: DeliveryTarget,
        cluster: ClusterState,
        observed: Mapping[str, Mapping[str, Any]],
        names: list[str],
    ) -> Delivered:
        """Which objects to emit now, which are ready, and the add-ons' progress."""
        ...


def check_deliverable(addons: list[AddonSpec], target: DeliveryTarget, mode: str) -> None:
    """Refuse add-ons that need the companion reconciler: Jinja2 templates, manifests read from
    ConfigMaps at render time, Lua health rules, ``file://`` charts, private-chart credentials
    and TLS settings. Every such field is named."""
    errors = [
        FieldError(_path(addon.name, part, target), f"{why}; delivery: {mode} cannot do that")
        for addon in addons
        for part, why in _needs_reconciler(addon)
    ]
    if errors:
        raise SpecError(errors)


def _path(addon: str, part: str, target: DeliveryTarget) -> str:
    if addon in target.extras:
        return f"spec.addons.extra[{target.extras.index(addon)}].{part}"
    if part.startswith("helm.values"):
        return f"spec.addons.values.{addon}"
    return "input.catalog"


def _needs_reconciler(addon: AddonSpec) -> Iterator[tuple[str, str]]:
    helm = addon.helm
    if helm is not None:
        if helm.repository.startswith("file://"):
            yield "helm.repository", f"add-on {addon.name!r} reads its chart from {helm.repository}"
        if helm.values_template is not None:
            yield "helm.valuesTemplate", f"add-on {addon.name!r} has templated values"
        if helm.credentials_secret_ref is not None:
            secret = helm.credentials_secret_ref.name
            yield (
                "helm.credentialsSecretRef",
                f"add-on {addon.name!r} reads its chart with the credentials of Secret {secret}",
            )
        if helm.insecure_skip_tls_verify:
            yield (
                "helm.insecureSkipTLSVerify",
                f"add-on {addon.name!r} reads its chart without verifying TLS",
            )
        if any(_TEMPLATE.search(text) for text in string_leaves(helm.values)):
            yield "helm.values", f"add-on {addon.name!r} has Jinja2 templates in its values"
    if addon.manifests is not None and _TEMPLATE.search(addon.manifests):
        yield "manifests", f"add-on {addon.name!r} has Jinja2 templates in its manifests"
    if addon.manifests_from:
        yield "manifestsFrom", f"add-on {addon.name!r} reads manifests at render time"
    if addon.health.lua is not None:
        yield "health.lua", f"add-on {addon.name!r} has a Lua health rule"
