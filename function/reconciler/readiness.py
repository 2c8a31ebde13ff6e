"""Is a cluster ready for add-ons? One pure reading of Cluster API and Crossplane status.

A Cluster API `Cluster` (v1beta1 or v1beta2) is read by `function.model.capi`, the reading
the function uses for the XR's status too, so both halves agree on when a cluster is
available. Crossplane managed resources and XRs are ready when `Ready=True` and
`Synced=True`. The gates map onto `ClusterGate`: base add-ons need an initialized control
plane; model servers need available workers (and GPU capacity, which the reconciler checks in
the workload cluster itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from function.errors import NotFoundError
from function.model import capi
from function.model.bundle import AddonBundleSpec, ClusterGate
from function.model.clusters import KUBECONFIG_KEY_ANNOTATION, KUBECONFIG_SECRET_ANNOTATION
from function.model.objects import Object, group_of, meta
from function.reconciler.store import ObjectId

CAPI_GROUP = capi.GROUP


@dataclass(frozen=True, slots=True)
class ClusterReadiness:
    """What the cluster object says about itself."""

    skip: str | None
    """Why the cluster must be left alone (paused, deleting), or None."""
    control_plane_initialized: bool
    workers_available: bool
    available: bool
    message: str

    def allows(self, gate: ClusterGate) -> bool:
        """Whether the object-level part of ``gate`` holds (GPU capacity is checked live)."""
        if self.skip is not None:
            return False
        if gate is ClusterGate.CONTROL_PLANE_INITIALIZED:
            return self.control_plane_initialized
        return self.control_plane_initialized and self.workers_available


def cluster_readiness(cluster: Object) -> ClusterReadiness:
    """Read readiness from a Cluster API `Cluster`, or from any Crossplane resource."""
    if group_of(str(cluster.get("apiVersion", ""))) == CAPI_GROUP:
        return _capi_readiness(cluster)
    return _crossplane_readiness(cluster)


def _capi_readiness(cluster: Object) -> ClusterReadiness:
    status = capi.read_cluster_status(cluster)
    skip = None
    if status.deleting:
        skip = "cluster is being deleted"
    elif status.paused:
        skip = "cluster is paused"
    if skip:
        message = skip
    elif not status.control_plane_initialized:
        message = f"waiting for the control plane (phase {status.phase or 'Pending'})"
    elif not status.workers_available:
        message = "control plane initialized; waiting for workers"
    else:
        message = "cluster is available"
    return ClusterReadiness(
        skip,
        status.control_plane_initialized,
        status.workers_available,
        status.available,
        message,
    )


def _crossplane_readiness(resource: Object) -> ClusterReadiness:
    m = meta(resource)
    conditions = (resource.get("status") or {}).get("conditions") or []
    skip = "resource is being deleted" if m.get("deletionTimestamp") else None
    if (m.get("annotations") or {}).get("crossplane.io/paused") == "true":
        skip = "resource is paused"
    ready = _is_true(conditions, "Ready") and _is_true(conditions, "Synced")
    if skip:
        message = skip
    elif ready:
        message = "resource is ready"
    else:
        message = f"waiting for {resource.get('kind', 'resource')} to be Ready and Synced"
    return ClusterReadiness(skip, ready, ready, ready, message)


def _is_true(conditions: Iterable[Mapping[str, Any]], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")


def kubeconfig_location(
    spec: AddonBundleSpec | None, cluster_id: ObjectId, cluster: Object
) -> tuple[str, str, str]:
    """(name, namespace, key) of the Secret holding the cluster's kubeconfig: the bundle's
    ``kubeconfigSecretRef``, Cluster API's ``<name>-kubeconfig``, the Secret a cloud family
    stamped on the cluster object, or its ``writeConnectionSecretToRef``."""
    namespace = cluster_id.namespace
    if spec is not None and spec.kubeconfig_secret_ref is not None:
        return spec.kubeconfig_secret_ref.name, namespace, spec.kubeconfig_secret_ref.key
    if cluster_id.gk.group == CAPI_GROUP:
        return capi.kubeconfig_secret(cluster_id.name), namespace, capi.KUBECONFIG_KEY
    stamped = meta(cluster).get("annotations") or {}
    if stamped.get(KUBECONFIG_SECRET_ANNOTATION):  # a cluster a cloud family composed
        key = str(stamped.get(KUBECONFIG_KEY_ANNOTATION) or "kubeconfig")
        return str(stamped[KUBECONFIG_SECRET_ANNOTATION]), namespace, key
    ref = (cluster.get("spec") or {}).get("writeConnectionSecretToRef") or {}
    if not ref.get("name"):
        raise NotFoundError(
            f"{cluster_id} names no connection Secret; set kubeconfigSecretRef on the bundle",
            status=404,
        )
    # Always the cluster's (= the bundle's) namespace: a tenant's bundle reads no other.
    return str(ref["name"]), namespace, "kubeconfig"


def allocatable_gpus(node: Object) -> int:
    """GPUs the scheduler can hand out on a Node (NVIDIA and AMD device plugins)."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    total = 0
    for resource in GPU_RESOURCES:
        try:
            total += int(str(allocatable.get(resource, "0")))
        except ValueError:
            continue
    return total
