"""The XR's status, conditions and events, from what `function.compose.readiness` observed.

The phase moves Provisioning → InstallingAddons → Ready, to Degraded when an add-on fails or
a ready cluster stops being available, and to Failed when Cluster API gives up. The conditions
``ClusterReady`` and ``AddonsReady`` say why. Events (Normal, or Warning for Degraded and
Failed) are emitted only when the phase changes from the one recorded in the observed XR, so a
steady cluster re-reconciled every minute stays quiet. `function.fn.runner` encodes the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from function.compose.providers.family import ClusterState
from function.compose.readiness import AddonsState
from function.compose.sizing import PoolSize
from function.model.common import ObjectRef
from function.model.xrstatus import (
    AddonsSummary,
    ClusterStatus,
    GpuStatus,
    Phase,
    SecretKeyRef,
    XRStatus,
)

CLUSTER_READY = "ClusterReady"
ADDONS_READY = "AddonsReady"
SHOWN_IN_MESSAGES = 5


class Severity(StrEnum):
    """Severity of a function result; Normal and Warning become events on the XR."""

    NORMAL = "Normal"
    WARNING = "Warning"
    FATAL = "Fatal"


@dataclass(frozen=True)
class Result:
    """One result of a run: an event for the XR, or a fatal error that stops the pipeline."""

    severity: Severity
    reason: str
    message: str


@dataclass(frozen=True)
class Condition:
    """A custom condition Crossplane sets on the XR."""

    type: str
    status: bool
    reason: str
    message: str


def phase_of(cluster: ClusterState, addons: AddonsState) -> Phase:
    """Where the inference cluster stands."""
    if cluster.failed:
        return Phase.FAILED
    if not cluster.initialized:
        return Phase.PROVISIONING
    if addons.failed:
        return Phase.DEGRADED
    if addons.all_ready:
        return Phase.READY if cluster.available else Phase.DEGRADED
    return Phase.INSTALLING_ADDONS


def cluster_condition(cluster: ClusterState, ref: ObjectRef) -> Condition:
    """``ClusterReady``: whether Cluster API reports the cluster available, and if not, why."""
    where = f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"
    if cluster.available and not cluster.deleting:
        return Condition(CLUSTER_READY, True, "Available", f"{where} is available")
    if not cluster.observed:
        return Condition(CLUSTER_READY, False, "Creating", f"waiting for {where} to be created")
    for flag, reason in (
        (cluster.deleting, "Deleting"),
        (cluster.paused, "Paused"),
        (cluster.failed, "Failed"),
    ):
        if flag:
            return Condition(CLUSTER_READY, False, reason, f"{where}: {cluster.message or reason}")
    if cluster.initialized:
        detail = cluster.message or "waiting for workers"
        return Condition(
            CLUSTER_READY, False, "ControlPlaneInitialized", f"{where}: control plane up; {detail}"
        )
    phase = cluster.phase or "Pending"
    return Condition(CLUSTER_READY, False, "Provisioning", f"{where} is {phase}")


def addons_condition(cluster: ClusterState, addons: AddonsState, names: list[str]) -> Condition:
    """``AddonsReady``: whether every add-on is applied and healthy, and if not, which."""
    count = f"{len(addons.ready)}/{addons.total} add-ons ready"
    if addons.all_ready:
        return Condition(ADDONS_READY, True, "Healthy", count)
    if addons.failed:
        failures = "; ".join(f"{name}: {message}" for name, message in addons.failed)
        return Condition(ADDONS_READY, False, "Failed", f"{count}; {failures}")
    if not cluster.initialized:
        return Condition(
            ADDONS_READY, False, "WaitingForCluster", f"{count}; waiting for the control plane"
        )
    if not addons.current:
        return Condition(
            ADDONS_READY,
            False,
            "Progressing",
            f"{count}; the reconciler has not yet seen the latest AddonBundle",
        )
    return Condition(
        ADDONS_READY, False, "Installing", f"{count}; pending: {_few(addons.pending(names))}"
    )


def transition_results(
    previous: str, phase: Phase, cluster: Condition, addons: Condition
) -> list[Result]:
    """An event when the phase changed since the last run, none otherwise."""
    if previous == phase.value:
        return []
    if phase is Phase.READY:
        detail = f"{cluster.message}; {addons.message}"
    elif phase in (Phase.PROVISIONING, Phase.FAILED) or (
        phase is Phase.DEGRADED and addons.reason != "Failed"
    ):
        detail = cluster.message
    else:
        detail = addons.message
    severity = Severity.WARNING if phase in (Phase.DEGRADED, Phase.FAILED) else Severity.NORMAL
    return [Result(severity, phase.value, detail)]


def compose_status(
    phase: Phase,
    cluster: ClusterState,
    cluster_ref: ObjectRef,
    kubeconfig: SecretKeyRef,
    pool: PoolSize | None,
    addons: AddonsState,
    names: list[str],
    workload: Mapping[str, Any],
) -> dict[str, Any]:
    """The XR's ``status`` (without conditions, which Crossplane keeps); ``workload`` holds the
    fields of the XR kind's own (how its models or training were sized)."""
    status = XRStatus(
        phase=phase,
        cluster=ClusterStatus(
            api_version=cluster_ref.api_version,
            kind=cluster_ref.kind,
            name=cluster_ref.name,
            namespace=cluster_ref.namespace,
            ready=cluster.available,
            kubeconfig_secret_ref=kubeconfig,
        ),
        gpu=None
        if pool is None
        else GpuStatus(
            product=pool.gpu.product.value,
            sharing=pool.sharing.value,
            per_node=pool.per_node,
            nodes=pool.nodes,
            total=pool.total_gpus,
            allocatable_per_node=pool.allocatable_per_node,
            memory_gib=pool.gpu.memory_gib,
        ),
        addons=AddonsSummary(
            ready=len(addons.ready),
            total=addons.total,
            pending=addons.pending(names),
            failed=[name for name, _ in addons.failed],
        ),
    )
    return {**status.to_dict(), **workload}


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_IN_MESSAGES])
    more = len(names) - SHOWN_IN_MESSAGES
    return f"{shown} and {more} more" if more > 0 else shown
