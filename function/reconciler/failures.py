"""Why an add-on is not applied, named by where the fault is (pure).

A person fixes a failure in a different place depending on its cause: a chart repository that
cannot be reached is a network or mirror matter, a chart that does not render is the chart's
or its values', a template error is the bundle author's, an unreachable workload cluster is
the cluster's. Each cause therefore has its own reason, shown alike on the add-on's status
(`AddonStatus.reason`), the bundle's ``Synced`` condition, a Warning event and a log line.

Transient causes (a repository or cluster that does not answer) leave the add-on ``Waiting``
with the reason and are retried; the others set it ``Failed`` until its inputs change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from function.errors import (
    AifleetError,
    ChartAccess,
    ChartAccessError,
    ChartError,
    ChartRenderError,
    KubeError,
    LuaError,
    RenderError,
    SecretNamespaceError,
    UnavailableError,
)


class Reason(StrEnum):
    """The reasons an add-on is held back, as status, condition and Event show them."""

    CHART_REPOSITORY_UNREACHABLE = "ChartRepositoryUnreachable"
    """The chart's repository or registry did not answer (transient)."""
    CHART_UNAVAILABLE = "ChartUnavailable"
    """The repository answered without the chart: unknown chart or version, bad digest."""
    CHART_CREDENTIALS_INVALID = "ChartCredentialsInvalid"
    """The chart's credentials Secret is missing, lacks a key, or holds something unusable."""
    CHART_AUTHENTICATION_FAILED = "ChartAuthenticationFailed"
    """The repository refused the credentials, or asked for some it was not given."""
    CHART_TLS_FAILED = "ChartTLSVerificationFailed"
    """The repository's TLS certificate could not be verified (CA bundle, or skip it)."""
    CHART_RENDER_FAILED = "ChartRenderFailed"
    """Helm could not render the fetched chart with the add-on's values."""
    TEMPLATE_FAILED = "TemplateFailed"
    """A template of the bundle (manifests, manifestsFrom, values) failed to render."""
    CLUSTER_UNREACHABLE = "ClusterUnreachable"
    """The workload cluster's API did not answer (transient)."""
    APPLY_FAILED = "ApplyFailed"
    """The workload cluster refused an object of the add-on."""
    HEALTH_CHECK_FAILED = "HealthCheckFailed"
    """The add-on's Lua health rule failed to load or run."""
    SECRET_NAMESPACE_NOT_ALLOWED = "SecretNamespaceNotAllowed"
    """A Secret the bundle needs lies outside the reconciler's ``--secret-namespaces``."""


TRANSIENT = frozenset({Reason.CHART_REPOSITORY_UNREACHABLE, Reason.CLUSTER_UNREACHABLE})
"""Reasons that leave an add-on ``Waiting`` and retried rather than ``Failed``."""

FAILURE_REASONS = frozenset(r.value for r in Reason)
"""Every reason that is worth a Warning and a ``Synced=False`` condition."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure: its reason and the message that says where it is."""

    reason: Reason
    message: str

    @property
    def transient(self) -> bool:
        """Whether retrying may help with nothing changed."""
        return self.reason in TRANSIENT


_ACCESS_REASONS = {
    ChartAccess.CREDENTIALS: Reason.CHART_CREDENTIALS_INVALID,
    ChartAccess.REFUSED: Reason.CHART_AUTHENTICATION_FAILED,
    ChartAccess.TLS: Reason.CHART_TLS_FAILED,
}


def classify(exc: AifleetError) -> Failure:
    """The reason and message of an error raised while rendering or applying an add-on."""
    return Failure(_reason(exc), _message(exc))


def cluster_unreachable(exc: UnavailableError) -> Failure:
    """The failure of a workload cluster that did not answer."""
    return Failure(Reason.CLUSTER_UNREACHABLE, _message(exc))


def secret_out_of_scope(exc: SecretNamespaceError) -> Failure:
    """The failure of a Secret the reconciler may not read (``--secret-namespaces``)."""
    return Failure(Reason.SECRET_NAMESPACE_NOT_ALLOWED, str(exc))


def _reason(exc: AifleetError) -> Reason:
    if isinstance(exc, ChartAccessError):
        return _ACCESS_REASONS[exc.cause]
    if isinstance(exc, ChartError):
        return Reason.CHART_REPOSITORY_UNREACHABLE if exc.transient else Reason.CHART_UNAVAILABLE
    if isinstance(exc, ChartRenderError):
        return Reason.CHART_RENDER_FAILED
    if isinstance(exc, RenderError):
        return Reason.TEMPLATE_FAILED
    if isinstance(exc, UnavailableError):
        return Reason.CLUSTER_UNREACHABLE
    if isinstance(exc, SecretNamespaceError):
        return Reason.SECRET_NAMESPACE_NOT_ALLOWED
    if isinstance(exc, LuaError):
        return Reason.HEALTH_CHECK_FAILED
    if isinstance(exc, KubeError):
        return Reason.APPLY_FAILED
    return Reason.TEMPLATE_FAILED


def _message(exc: AifleetError) -> str:
    if isinstance(exc, ChartError) and exc.transient:
        return f"chart repository unreachable: {exc}"
    if isinstance(exc, UnavailableError):
        return f"workload cluster unreachable: {exc}"
    return str(exc)
