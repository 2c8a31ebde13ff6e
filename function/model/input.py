"""The function's `Input`: what a Composition author sets per pipeline step.

A Composition passes an ``aifleet.fn.crossplane.io/v1beta1`` ``Input`` to the function. It
chooses the Cluster API version to emit, how add-ons are delivered, the bundle's sync mode,
where the catalog's charts come from (e.g. ``file://examples/charts`` for the offline
stand-ins), and which chart versions each environment is pinned to (``promotion``). `parse_input`
reads it; `function.compose` applies it; `function.model.schema` generates the Input CRD in
``package/`` from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from function.model.bundle import CHART_REPOSITORY
from function.model.common import Spec, parse
from function.model.sync import DEFAULT_SYNC_MODE, SyncMode
from function.model.xr import GpuProduct

GROUP = "aifleet.fn.crossplane.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Input"

_OBJECT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


class CapiApiVersion(StrEnum):
    """Which Cluster API version the composed `Cluster` is written in."""

    V1BETA2 = "v1beta2"
    V1BETA1 = "v1beta1"


class CloudGroups(StrEnum):
    """Which API groups of the upbound cloud providers the managed resources are written in."""

    NAMESPACED = "namespaced"
    """Crossplane v2's namespaced managed resources, ``*.m.upbound.io``, in the XR's namespace."""
    LEGACY = "legacy"
    """The cluster-scoped ``*.upbound.io`` groups (Crossplane 1.x, or providers before v2)."""


class Delivery(StrEnum):
    """How add-ons reach the workload cluster (`function.compose.delivery`)."""

    RECONCILER = "reconciler"
    """An AddonBundle, applied by the companion reconciler."""
    CROSSPLANE = "crossplane"
    """provider-helm Releases and provider-kubernetes Objects, each emitted once the cluster
    and the add-ons it depends on are ready."""
    SVELTOS = "sveltos"
    """Sveltos profiles, one per dependency tier, chained with dependsOn."""


class ChartOverride(Spec):
    """Where one catalog add-on's chart comes from, when not from the catalog's defaults."""

    repository: str | None = Field(
        default=None, pattern=CHART_REPOSITORY, description="Chart repository of this add-on."
    )
    version: str | None = Field(
        default=None, min_length=1, description="Chart version of this add-on."
    )


class CatalogSettings(Spec):
    """Overrides of the built-in catalog's chart sources."""

    repository: str | None = Field(
        default=None,
        pattern=CHART_REPOSITORY,
        description="One repository for every catalog chart, e.g. file://examples/charts.",
    )
    charts: dict[str, ChartOverride] = Field(
        default_factory=dict,
        description="Per add-on repository and version; wins over `repository`.",
    )


_VERSION = r"^\S{1,64}$"


class PromotionPolicy(Spec):
    """Catalog chart versions pinned per environment: an XR of that environment gets the pinned
    version instead of the catalog's, so a catalog bump reaches an unpinned environment (dev)
    first and a pinned one (prod) only when its pin is moved."""

    dev: dict[str, str] = Field(
        default_factory=dict, description="Chart version per catalog add-on for dev clusters."
    )
    staging: dict[str, str] = Field(
        default_factory=dict, description="Chart version per catalog add-on for staging clusters."
    )
    prod: dict[str, str] = Field(
        default_factory=dict, description="Chart version per catalog add-on for prod clusters."
    )

    def pins(self, environment: str) -> dict[str, str]:
        """The pinned versions of one environment, by add-on."""
        pinned: dict[str, str] = getattr(self, environment, {})
        return pinned


class FunctionInput(Spec):
    """The settings of one pipeline step."""

    capi_api_version: CapiApiVersion = Field(
        default=CapiApiVersion.V1BETA2,
        description="Cluster API version of the composed Cluster (v1beta1 before CAPI 1.11).",
    )
    cloud_groups: CloudGroups = Field(
        default=CloudGroups.NAMESPACED,
        description="API groups of the EKS, GKE and AKS managed resources: namespaced "
        "(*.m.upbound.io, Crossplane v2) or legacy (cluster-scoped *.upbound.io).",
    )
    delivery: Delivery = Field(
        default=Delivery.RECONCILER,
        description="How add-ons are delivered: an AddonBundle for the companion reconciler "
        "(reconciler), provider-helm Releases and provider-kubernetes Objects gated on "
        "readiness (crossplane), or Sveltos profiles chained by dependency tier (sveltos).",
    )
    sync_mode: SyncMode = Field(
        default=DEFAULT_SYNC_MODE,
        description="Sync mode of the composed AddonBundle or Sveltos profiles, which always "
        "state it (ContinuousWithDriftDetection when unset, as for a bundle).",
    )
    catalog: CatalogSettings = Field(
        default_factory=CatalogSettings, description="Where the catalog's charts come from."
    )
    promotion: PromotionPolicy = Field(
        default_factory=PromotionPolicy,
        description="Catalog chart versions pinned per environment; a pin wins over "
        "`catalog.charts.<add-on>.version` and the catalog's own version.",
    )
    gpu_cost_per_hour: dict[GpuProduct, float] = Field(
        default_factory=dict,
        description="USD per GPU-hour by product for placement's cost preference; wins over "
        "the catalog's table product by product.",
    )


def parse_input(data: Any) -> FunctionInput:
    """Parse a step's ``input`` object (its apiVersion, kind and metadata are ignored)."""
    return parse(FunctionInput, data, root="input", ignore=_OBJECT_FIELDS)
