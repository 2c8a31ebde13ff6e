"""What a cluster serves: resource types, the built-in table, and types made from CRDs.

A `ResourceType` describes one resource (``deployments.apps``): its kind, scope, served
versions and the behaviours the API server attaches to it (a `/status` subresource, whether
`metadata.generation` is tracked, which field selectors it accepts, its CRD schema). A
`Registry` holds the types of one cluster, starts with the built-in table below and grows or
shrinks as `CustomResourceDefinition` objects are written (`apiserver` calls `register_crd`).
`discovery` renders a registry; `schema` reads `ResourceType.schemas` for server-side apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BASE_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One resource of one API group, served under one or more versions."""

    group: str
    versions: tuple[str, ...]  # served versions, highest priority first
    storage_version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    tracks_generation: bool = False
    create_keeps_status: bool = False
    builtin: bool = True
    field_selectors: frozenset[str] = BASE_FIELDS
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # version -> schema

    @property
    def key(self) -> tuple[str, str]:
        """The storage key of this resource: ``(group, plural)``."""
        return (self.group, self.plural)

    def api_version(self, version: str) -> str:
        """``apps/v1`` or ``v1``."""
        return f"{self.group}/{version}" if self.group else version

    @property
    def list_kind(self) -> str:
        """The kind of a list of these objects."""
        return f"{self.kind}List"


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of kube-aware version ordering: GA before beta before alpha, newest first."""
    found = _VERSION.match(version)
    if not found:
        return (3, 0, 0, version)
    major, stage, minor = found.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def _builtin(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: Iterable[str] = (),
    categories: Iterable[str] = (),
    status: bool = False,
    generation: bool = False,
    fields: Iterable[str] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        versions=(version,),
        storage_version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=tuple(short),
        categories=tuple(categories),
        status_subresource=status,
        tracks_generation=generation,
        create_keeps_status=kind == "Node",
        field_selectors=BASE_FIELDS | frozenset(fields),
    )


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_ALL = ("all",)

# fmt: off
BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "Namespace", "namespaces", namespaced=False, short=["ns"], status=True,
             fields=["status.phase"]),
    _builtin("", "v1", "Node", "nodes", namespaced=False, short=["no"], status=True,
             fields=["spec.unschedulable"]),
    _builtin("", "v1", "Pod", "pods", short=["po"], categories=_ALL, status=True,
             fields=_POD_FIELDS),
    _builtin("", "v1", "Service", "services", short=["svc"], categories=_ALL, status=True),
    _builtin("", "v1", "ConfigMap", "configmaps", short=["cm"]),
    _builtin("", "v1", "Secret", "secrets", fields=["type"]),
    _builtin("", "v1", "ServiceAccount", "serviceaccounts", short=["sa"]),
    _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"],
             status=True),
    _builtin("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=["pv"],
             status=True),
    _builtin("", "v1", "Event", "events", short=["ev"], fields=_EVENT_FIELDS),
    _builtin("", "v1", "Endpoints", "endpoints", short=["ep"]),
    _builtin("", "v1", "LimitRange", "limitranges", short=["limits"]),
    _builtin("", "v1", "ResourceQuota", "resourcequotas", short=["quota"], status=True),
    _builtin("apps", "v1", "Deployment", "deployments", short=["deploy"], categories=_ALL,
             status=True, generation=True),
    _builtin("apps", "v1", "StatefulSet", "statefulsets", short=["sts"], categories=_ALL,
             status=True, generation=True),
    _builtin("apps", "v1", "DaemonSet", "daemonsets", short=["ds"], categories=_ALL,
             status=True, generation=True),
    _builtin("apps", "v1", "ReplicaSet", "replicasets", short=["rs"], categories=_ALL,
             status=True, generation=True),
    _builtin("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _builtin("batch", "v1", "Job", "jobs", categories=_ALL, status=True, generation=True,
             fields=["status.successful"]),
    _builtin("batch", "v1", "CronJob", "cronjobs", short=["cj"], categories=_ALL, status=True,
             generation=True),
    _builtin("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
             short=["hpa"], categories=_ALL, status=True, generation=True),
    _builtin("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"],
             status=True, generation=True),
    _builtin("networking.k8s.io", "v1", "Ingress", "ingresses", short=["ing"], status=True,
             generation=True),
    _builtin("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _builtin("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=["netpol"],
             generation=True),
    _builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
             namespaced=False),
    _builtin("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False,
             short=["sc"]),
    _builtin("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
             short=["pc"]),
    _builtin("coordination.k8s.io", "v1", "Lease", "leases"),
    _builtin("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", namespaced=False),
    _builtin("events.k8s.io", "v1", "Event", "events", short=["ev"]),
    _builtin("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
             "validatingwebhookconfigurations", namespaced=False, generation=True),
    _builtin("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
             "mutatingwebhookconfigurations", namespaced=False, generation=True),
    _builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
             "customresourcedefinitions", namespaced=False, short=["crd", "crds"],
             categories=["api-extensions"], status=True, generation=True),
)
# fmt: on

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
SECRET_KEY = ("", "secrets")


def type_from_crd(crd: Mapping[str, Any]) -> ResourceType:
    """The resource type a `CustomResourceDefinition` declares (served versions only)."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")), served[0]["name"])
    selectable = {
        selectable_field["jsonPath"].lstrip(".")
        for version in served
        for selectable_field in version.get("selectableFields") or []
    }
    return ResourceType(
        group=spec["group"],
        versions=tuple(sorted((v["name"] for v in served), key=version_priority)),
        storage_version=storage,
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource=all("status" in (v.get("subresources") or {}) for v in served),
        tracks_generation=True,
        builtin=False,
        field_selectors=BASE_FIELDS | frozenset(selectable),
        schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") or {} for v in served},
    )


@dataclass
class Registry:
    """The resource types one cluster serves, indexed for request routing."""

    types: dict[tuple[str, str], ResourceType] = field(default_factory=dict)
    by_kind: dict[tuple[str, str], ResourceType] = field(default_factory=dict)
    generation: int = 0  # bumped on every change, so discovery documents can be cached

    @classmethod
    def with_builtins(cls) -> Registry:
        """A registry of the built-in kinds only."""
        registry = cls()
        for resource_type in BUILTIN_TYPES:
            registry.add(resource_type)
        return registry

    def add(self, resource_type: ResourceType) -> None:
        """Serve a resource type (replacing an earlier definition of the same resource)."""
        previous = self.types.get(resource_type.key)
        if previous is not None:
            self.by_kind.pop((previous.group, previous.kind), None)
        self.types[resource_type.key] = resource_type
        self.by_kind[(resource_type.group, resource_type.kind)] = resource_type
        self.generation += 1

    def remove(self, key: tuple[str, str]) -> ResourceType | None:
        """Stop serving a resource; returns what was removed."""
        removed = self.types.pop(key, None)
        if removed is not None:
            self.by_kind.pop((removed.group, removed.kind), None)
            self.generation += 1
        return removed

    def resolve(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``/apis/<group>/<version>/<plural>``, if any."""
        found = self.types.get((group, plural))
        return found if found is not None and version in found.versions else None

    def for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type of objects with this ``apiVersion`` and ``kind``, if served."""
        group, _, version = api_version.rpartition("/")
        found = self.by_kind.get((group, kind))
        return found if found is not None and version in found.versions else None

    def groups(self) -> dict[str, list[str]]:
        """Served versions per group, highest priority first (the core group is ``""``)."""
        versions: dict[str, set[str]] = {}
        for resource_type in self.types.values():
            versions.setdefault(resource_type.group, set()).update(resource_type.versions)
        return {group: sorted(v, key=version_priority) for group, v in versions.items()}
