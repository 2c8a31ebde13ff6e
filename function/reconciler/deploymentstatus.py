"""The status of an AIModelDeployment, composed from a decision and what its bundles report.

`live_status` starts from `function.placement.delivery.deployment_status` (placements, GPUs
held, every candidate's reason), marks the clusters whose model add-on is healthy with the
endpoint of the served model, and sets the phase: Pending (nothing fits, waiting), Placing
(bundles on their way), Provisioning (an AIInferenceCluster is being made for it), Serving
(every wanted replica healthy). A Failed add-on of a cluster's model bundle or serving-stack
bundle is named, with its message, in the ``Serving`` condition (reason ``AddonFailed``).
`expired_status` and `stopped_status` are the other two ends; `announcements` are the Events
a new status calls for.
Conditions ``Placed`` and ``Serving`` keep their transition times while they hold; a deployment
that provisioned a cluster also has ``Provisioned``, which `provision_wait` fills in while
replicas wait for that cluster: why it does not hold them yet (the AIInferenceCluster's own
conditions, its Cluster API Cluster's readiness, what placement says of it) and, past
``provision.timeout``, ``ProvisioningTimedOut``. `expiry`
reads when ``ttl`` or ``idleAfter`` runs out from the object (its creation, its
``aifleet.io/last-traffic`` annotation) and the traffic its clusters report
(`function.reconciler.trafficwatch`). Pure: the controller (`function.reconciler.deployments`)
writes what these return.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from function.catalog.addons import model_addon_name
from function.errors import SpecError
from function.model.bundlestatus import Condition
from function.model.common import parse
from function.model.deployment import (
    API_VERSION,
    KIND,
    AIModelDeploymentSpec,
    AIModelDeploymentStatus,
    DeploymentPhase,
    duration_seconds,
)
from function.model.objects import Object, meta
from function.placement.decide import Decision, Verdict
from function.placement.delivery import deployment_status
from function.placement.ledger import deadline, endpoint_of
from function.reconciler.readiness import cluster_readiness

__all__ = [
    "API_VERSION",
    "KIND",
    "TRAFFIC_ANNOTATION",
    "ProvisionWait",
    "announcements",
    "expired_status",
    "expiry",
    "live_status",
    "parse_time",
    "provision_wait",
    "read_status",
    "rfc3339",
    "stopped_status",
]

log = logging.getLogger(__name__)

TRAFFIC_ANNOTATION = "aifleet.io/last-traffic"
"""RFC 3339 time of the last request, set by the serving side; ``idleAfter`` counts from it."""


def read_status(data: Any) -> AIModelDeploymentStatus | None:
    """A status as written before, or None when there is none (or it cannot be read)."""
    if not isinstance(data, dict) or "phase" not in data:
        return None
    try:
        return parse(AIModelDeploymentStatus, data, root="status")
    except SpecError:
        return None


def parse_time(text: str) -> datetime:
    """An RFC 3339 time of second precision, as the clock and Kubernetes write it."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def rfc3339(when: datetime) -> str:
    """``when`` as Kubernetes writes times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry(
    obj: Object, spec: AIModelDeploymentSpec, signal: datetime | None = None
) -> tuple[datetime, str] | None:
    """When the deployment expires and why: ``ttl`` from its creation, ``idleAfter`` from its
    last traffic signal (the later of the `TRAFFIC_ANNOTATION` and ``signal``, what its
    clusters report), or None."""
    stamp = meta(obj).get("creationTimestamp")
    created = parse_time(str(stamp)) if stamp else datetime.now(UTC)
    signals = [t for t in (_last_traffic(obj), signal) if t is not None]
    return deadline(spec, created, max(signals) if signals else None)


def _last_traffic(obj: Object) -> datetime | None:
    value = (meta(obj).get("annotations") or {}).get(TRAFFIC_ANNOTATION)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        log.warning("ignoring %s=%r: not an RFC 3339 time", TRAFFIC_ANNOTATION, value)
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ProvisionWait:
    """Replicas waiting for the cluster provisioned for them, and why it does not hold them."""

    cluster: str
    """namespace/name of the AIInferenceCluster."""
    cause: str
    deadline: datetime
    """Creation of the AIInferenceCluster plus ``provision.timeout``."""
    timeout: str
    timed_out: bool

    @property
    def message(self) -> str:
        """The Provisioned condition's message."""
        if self.timed_out:
            return (
                f"AIInferenceCluster {self.cluster} does not hold the model {self.timeout} "
                f"after its creation: {self.cause}; still waiting for it"
            )
        return f"waiting for AIInferenceCluster {self.cluster} until {rfc3339(self.deadline)}: " + (
            self.cause
        )


def provision_wait(
    provisioned: str,
    xr: Object | None,
    cluster: Object | None,
    verdicts: Iterable[Verdict],
    *,
    timeout: str,
    now: datetime,
) -> ProvisionWait:
    """Where the provisioned cluster stands: ``xr`` is the AIInferenceCluster as stored (None
    when it is not), ``cluster`` the Cluster API Cluster it composed, ``verdicts`` placement's
    reasons; the wait counts ``timeout`` from the XR's creation."""
    stamp = meta(xr).get("creationTimestamp") if xr is not None else None
    since = _time(stamp) or now
    ends = since + timedelta(seconds=duration_seconds(timeout))
    cause = _provision_cause(xr, cluster, {v.cluster: v.reason for v in verdicts})
    return ProvisionWait(provisioned, cause, ends, timeout, now >= ends)


def _provision_cause(xr: Object | None, cluster: Object | None, reasons: Mapping[str, str]) -> str:
    if xr is None:
        return "the AIInferenceCluster does not exist"
    if meta(xr).get("deletionTimestamp"):
        return "the AIInferenceCluster is being deleted"
    status = xr.get("status") or {}
    parts = [
        f"{c.get('type')} {c.get('reason') or 'False'}: {c['message']}"
        if c.get("message")
        else f"{c.get('type')} {c.get('reason') or 'False'}"
        for c in status.get("conditions") or []
        if c.get("type") == "Synced" and c.get("status") == "False"
    ]
    if cluster is None:
        phase = status.get("phase")
        parts.append(
            f"its Cluster API Cluster is not composed yet (phase {phase})"
            if phase
            else "its Cluster API Cluster is not composed yet (no status from the composition)"
        )
        return "; ".join(parts)
    m = meta(cluster)
    name = f"{m.get('namespace')}/{m.get('name')}"
    readiness = cluster_readiness(cluster)
    if readiness.skip is not None or not readiness.workers_available:
        parts.append(f"Cluster {name}: {readiness.message}")
    else:
        parts.append(f"Cluster {name}: {reasons.get(name, 'not seen by placement yet')}")
    return "; ".join(parts)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def model_healthy(bundle: Mapping[str, Any] | None, model: str) -> bool:
    """Whether a placement bundle reports the model add-on Healthy on its cluster."""
    name = model_addon_name(model)
    for cluster in ((bundle or {}).get("status") or {}).get("clusters") or []:
        for addon in cluster.get("addons") or []:
            if addon.get("name") == name and addon.get("phase") == "Healthy":
                return True
    return False


def stack_healthy(bundle: Mapping[str, Any] | None) -> bool:
    """Whether a serving-stack bundle reports every add-on Healthy (None: another bundle
    brings the stack, and is not judged here)."""
    if bundle is None:
        return True
    clusters = (bundle.get("status") or {}).get("clusters") or []
    wanted = {a.get("name") for a in (bundle.get("spec") or {}).get("addons") or []}
    healthy = {
        a.get("name")
        for cluster in clusters
        for a in cluster.get("addons") or []
        if a.get("phase") == "Healthy"
    }
    return bool(clusters) and wanted <= healthy


def bundle_trouble(bundle: Mapping[str, Any] | None) -> list[str]:
    """What keeps a bundle's add-ons from serving: each Failed add-on with its message, named
    by bundle (``AddonBundle team-a/eu-1-vllm-serving: vllm-stack Failed: conflict: …``)."""
    if not bundle:
        return []
    m = bundle.get("metadata") or {}
    return [
        f"AddonBundle {m.get('namespace')}/{m.get('name')}: {addon.get('name')} "
        f"Failed: {addon.get('message') or 'no message'}"
        for cluster in (bundle.get("status") or {}).get("clusters") or []
        for addon in cluster.get("addons") or []
        if addon.get("phase") == "Failed"
    ]


def live_status(
    obj: Object,
    spec: AIModelDeploymentSpec,
    decision: Decision,
    bundles: Mapping[str, Object | None],
    previous: AIModelDeploymentStatus | None,
    *,
    provisioned: str | None,
    now: str,
    expires_at: str | None,
    waiting: ProvisionWait | None = None,
    stacks: Mapping[str, Object | None] | None = None,
) -> Object:
    """The status of a placed (or waiting) deployment; ``bundles`` by cluster, ``stacks`` the
    serving-stack bundles by cluster (a cluster serves once both are healthy; their failures
    are named in the Serving condition); ``waiting`` while replicas wait for the cluster
    provisioned for them."""
    serving = frozenset(
        c
        for c, b in bundles.items()
        if model_healthy(b, spec.model.name) and stack_healthy((stacks or {}).get(c))
    )
    trouble = [
        f"{cluster}: {text}"
        for cluster, bundle in sorted(bundles.items())
        if cluster not in serving
        for text in [*bundle_trouble((stacks or {}).get(cluster)), *bundle_trouble(bundle)]
    ]
    status = deployment_status(decision, serving=serving, generation=_generation(obj))
    endpoint = endpoint_of(spec)
    placements = [
        p.model_copy(update={"endpoint": endpoint if p.ready else None}) for p in status.placements
    ]
    phase = status.phase
    if provisioned and not decision.complete:
        phase = DeploymentPhase.PROVISIONING
    placed = bool(placements)
    healthy = phase is DeploymentPhase.SERVING
    serving_text = "; ".join([f"{len(serving)} of {len(placements)} cluster(s) serving", *trouble])
    conditions = [
        _condition(previous, "Placed", placed, "Placed" if placed else "NoCapacity",
                   decision.message, now, obj),
        _condition(previous, "Serving", healthy, "Healthy" if healthy else
                   ("AddonFailed" if trouble else "NotServing"), serving_text, now, obj),
    ]  # fmt: skip
    message = status.message
    if waiting is not None:
        reason = "ProvisioningTimedOut" if waiting.timed_out else "Provisioning"
        conditions.append(
            _condition(previous, "Provisioned", False, reason, waiting.message, now, obj)
        )
        if waiting.timed_out:
            message = waiting.message
    elif provisioned:
        done = f"no replica waits for AIInferenceCluster {provisioned}"
        conditions.append(_condition(previous, "Provisioned", True, "Provisioned", done, now, obj))
    return status.model_copy(
        update={
            "message": message,
            "phase": phase,
            "placements": placements,
            "endpoint": placements[0].endpoint if placements else None,
            "provisioned": provisioned,
            "expires_at": expires_at,
            "conditions": conditions,
        }
    ).to_dict()


def announcements(
    previous: AIModelDeploymentStatus | None, status: Object
) -> list[tuple[str, str, bool]]:
    """The Events (reason, message, warning) a new status calls for: one when the phase or the
    message changes (a Warning for Pending and ProvisioningTimedOut), and a Warning when a
    bundle serving it reports a Failed add-on (``AddonFailed``, as the Serving condition says)."""
    out = []
    failed = _serving(status.get("conditions") or [])
    if failed.get("reason") == "AddonFailed":
        was = _serving([c.to_dict() for c in previous.conditions] if previous else [])
        if was.get("message") != failed.get("message"):
            out.append(("AddonFailed", str(failed.get("message")), True))
    before = (previous.phase.value, previous.message) if previous else (None, None)
    if (status.get("phase"), status.get("message")) != before:
        phase = str(status.get("phase"))
        reason = phase
        if any(c.get("reason") == "ProvisioningTimedOut" for c in status.get("conditions") or []):
            reason = "ProvisioningTimedOut"
        warning = reason in ("Pending", "ProvisioningTimedOut")
        out.append((reason, f"{phase}: {status.get('message', '')}", warning))
    return out


def _serving(conditions: list[Object]) -> Object:
    """The Serving condition of a status's conditions, or an empty one."""
    return next((c for c in conditions if c.get("type") == "Serving"), {})


def expired_status(
    obj: Object,
    previous: AIModelDeploymentStatus | None,
    ends: tuple[datetime, str],
    *,
    reclaimed: bool,
    now: str,
) -> Object:
    """The status once ``ttl`` or ``idleAfter`` ran out and the model was withdrawn."""
    when = ends[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"expired at {when} ({ends[1]}): model withdrawn"
    provisioned = previous.provisioned if previous else None
    if provisioned:
        message += f"; {provisioned} reclaimed" if reclaimed else f"; {provisioned} kept"
    conditions = [
        _condition(previous, "Placed", False, "Expired", message, now, obj),
        _condition(previous, "Serving", False, "Expired", message, now, obj),
    ]
    return AIModelDeploymentStatus(
        observed_generation=_generation(obj),
        phase=DeploymentPhase.EXPIRED,
        message=message,
        provisioned=None if reclaimed else provisioned,
        expires_at=when,
        conditions=conditions,
    ).to_dict()


def stopped_status(
    obj: Object,
    previous: AIModelDeploymentStatus | None,
    reason: str,
    message: str,
    *,
    now: str,
) -> Object:
    """The status of a deployment that cannot be acted on: what it had, and why it stopped."""
    base = previous or AIModelDeploymentStatus(phase=DeploymentPhase.PENDING)
    conditions = [
        _condition(previous, "Placed", False, reason, message, now, obj),
        *(c for c in base.conditions if c.type != "Placed"),
    ]
    return base.model_copy(
        update={
            "observed_generation": _generation(obj),
            "message": message,
            "conditions": conditions,
        }
    ).to_dict()


def _condition(
    previous: AIModelDeploymentStatus | None,
    kind: str,
    true: bool,
    reason: str,
    message: str,
    now: str,
    obj: Object,
) -> Condition:
    status = "True" if true else "False"
    before = next((c for c in previous.conditions if c.type == kind), None) if previous else None
    same = before is not None and (before.status, before.reason) == (status, reason)
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=before.last_transition_time if same and before else now,
        observed_generation=_generation(obj),
    )


def _generation(obj: Object) -> int:
    return int(meta(obj).get("generation") or 0)
