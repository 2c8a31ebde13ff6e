"""What a Cluster API `Cluster` says about itself: one reading for the function and the reconciler.

Both halves gate on the same facts — the function to set the XR's phase and ``ClusterReady``
condition (`function.compose.readiness`), the reconciler to decide which add-ons may start
(`function.reconciler.readiness`) — so both read them here, with one rule for every API
version Cluster API serves (``capi-gpu.md`` §1.2):

* the control plane is *initialized* on ``status.initialization.controlPlaneInitialized``
  (v1beta2), ``status.controlPlaneReady`` (v1beta1) or a ``ControlPlaneInitialized=True``
  condition in any list the versions keep: ``status.conditions``, ``status.v1beta2.conditions``
  (Cluster API 1.9/1.10) or ``status.deprecated.v1beta1.conditions`` (1.11 on);
* the cluster is *available* on v1beta2's ``Available`` wherever Cluster API reports it
  (``status.conditions``, ``status.v1beta2.conditions``); only a cluster that reports no
  ``Available`` at all is read by v1beta1's ``Ready`` in ``status.conditions``. The deprecated
  v1beta1 conditions a v1beta2 object keeps never decide, and ``phase`` alone never does;
* *workers* are available on ``WorkersAvailable=True`` (v1beta2), or when the cluster is;
* *failed* on v1beta1's ``phase: Failed`` or a ``failureReason`` (kept under
  ``status.deprecated.v1beta1`` by v1beta2).

Pure: a mapping in, a frozen value out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

KUBECONFIG_KEY: Final = "value"
"""The data key of the Secret Cluster API writes a cluster's admin kubeconfig to."""


def kubeconfig_secret(cluster_name: str) -> str:
    """The Secret Cluster API writes a cluster's admin kubeconfig to (key `KUBECONFIG_KEY`)."""
    return f"{cluster_name}-kubeconfig"


GROUP = "cluster.x-k8s.io"
PAUSED_ANNOTATION = "cluster.x-k8s.io/paused"

Condition = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CapiClusterStatus:
    """The readiness facts of one observed `Cluster`."""

    control_plane_initialized: bool = False
    workers_available: bool = False
    available: bool = False
    paused: bool = False
    deleting: bool = False
    failed: bool = False
    phase: str = ""
    message: str = ""
    """Cluster API's own words when the cluster failed or is not available, or ''."""


def read_cluster_status(cluster: Mapping[str, Any]) -> CapiClusterStatus:
    """Read a `Cluster` object of any served version (v1beta1, v1beta2)."""
    metadata: Mapping[str, Any] = cluster.get("metadata") or {}
    spec: Mapping[str, Any] = cluster.get("spec") or {}
    status: Mapping[str, Any] = cluster.get("status") or {}
    initialization: Mapping[str, Any] = status.get("initialization") or {}
    deprecated: Mapping[str, Any] = (status.get("deprecated") or {}).get("v1beta1") or {}
    current = _conditions(status.get("conditions"))
    v1beta2 = [*current, *_conditions((status.get("v1beta2") or {}).get("conditions"))]
    every = [*v1beta2, *_conditions(deprecated.get("conditions"))]
    verdict = _find(v1beta2, "Available")
    if verdict is None:
        verdict = _find(current, "Ready")
    available = verdict is not None and verdict.get("status") == "True"
    return CapiClusterStatus(
        control_plane_initialized=bool(
            initialization.get("controlPlaneInitialized")
            or status.get("controlPlaneReady")
            or _is_true(every, "ControlPlaneInitialized")
        ),
        workers_available=available or _is_true(v1beta2, "WorkersAvailable"),
        available=available,
        paused=bool(spec.get("paused")) or PAUSED_ANNOTATION in (metadata.get("annotations") or {}),
        deleting=bool(metadata.get("deletionTimestamp")),
        failed=status.get("phase") == "Failed"
        or bool(status.get("failureReason") or deprecated.get("failureReason")),
        phase=str(status.get("phase") or ""),
        message=_message(status, deprecated, None if available else verdict),
    )


def _conditions(conditions: Any) -> list[Condition]:
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, Mapping)]


def _find(conditions: Iterable[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def _is_true(conditions: Iterable[Condition], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _message(
    status: Mapping[str, Any], deprecated: Mapping[str, Any], unavailable: Condition | None
) -> str:
    failure = status.get("failureMessage") or deprecated.get("failureMessage")
    if failure:
        return str(failure)
    if unavailable is not None:
        return str(unavailable.get("message") or unavailable.get("reason") or "")
    return ""
