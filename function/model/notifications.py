"""Where the reconciler tells people about add-on and trigger transitions.

A bundle or an EventTrigger lists `Notification` targets. Kubernetes Events are always
emitted; the other types post to an incoming webhook whose URL is read from a Secret in the
object's namespace, so the URL never appears in the object, logs, events or status. The
delivery side is `function.reconciler.notify`; delivery outcomes come back as
`NotificationStatus` entries in the status of the object that configured them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from function.model.common import DNS_LABEL, Spec


class NotificationType(StrEnum):
    """How a notification is delivered."""

    KUBERNETES_EVENT = "KubernetesEvent"
    WEBHOOK = "Webhook"
    SLACK = "Slack"
    TEAMS = "Teams"


class SecretKeyRef(Spec):
    """A key of a Secret in the referrer's namespace."""

    name: str = Field(min_length=1, description="Secret name, in the object's namespace.")
    key: str = Field(default="url", min_length=1, description="Data key holding the URL.")


class Notification(Spec):
    """One notification target."""

    name: str = Field(
        pattern=DNS_LABEL, max_length=63, description="Name of the target, reported in status."
    )
    type: NotificationType = Field(description="KubernetesEvent, Webhook, Slack or Teams.")
    secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="The Secret holding the incoming-webhook URL (Webhook, Slack, Teams).",
    )


class DeliveryStatus(StrEnum):
    """Whether the last notification reached its target (Sveltos' words)."""

    DELIVERED = "Delivered"
    FAILED_TO_DELIVER = "FailedToDeliver"


class NotificationStatus(Spec):
    """The outcome of the last notification sent to one target."""

    name: str
    status: DeliveryStatus
    event: str = ""
    """The transition notified, e.g. ``model-server Failed on gpu-1``."""
    attempts: int = 0
    message: str | None = None
    last_attempt_time: str | None = None
