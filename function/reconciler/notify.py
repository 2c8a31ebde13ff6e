"""Notifications of trigger and add-on transitions: incoming webhooks, retried, off the path.

Kubernetes Events are always recorded by the controllers themselves; this module delivers the
same transitions (`Notice`) to the targets an object lists (`function.model.notifications`):
a generic webhook (the notice as JSON), Slack (``{"text": ...}``) or Microsoft Teams (a
``MessageCard``) incoming webhook. The URL is read from a Secret of the object's namespace at
delivery time and appears nowhere else: not in logs, events, status or error messages (a
failure is described by its HTTP status or the kind of transport error, never by a string
that could carry the URL).

`Notifier.send` returns at once: each delivery is a task that retries with exponential
back-off (``attempts`` times) and reports its outcome (`NotificationStatus`, ``Delivered`` or
``FailedToDeliver``) through a callback, so reconciliation never waits for a receiver.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from function.errors import KubeError, SecretNamespaceError
from function.kube.client import KubeClient
from function.model.notifications import (
    DeliveryStatus,
    Notification,
    NotificationStatus,
    NotificationType,
)
from function.reconciler.secretscope import SecretScope

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """One transition worth telling people about."""

    subject: str
    """``EventTrigger team-a/scale-up``."""
    reason: str
    """``Matched``, ``Unmatched``, ``Failed``, ``Healthy``, ``DriftCorrected``."""
    message: str
    warning: bool = False

    @property
    def summary(self) -> str:
        """One line for chat messages and status."""
        return f"{self.subject}: {self.reason}: {self.message}"


def payload(kind: NotificationType, notice: Notice) -> dict[str, Any]:
    """The JSON body a target of ``kind`` expects."""
    match kind:
        case NotificationType.SLACK:
            icon = ":warning:" if notice.warning else ":white_check_mark:"
            return {"text": f"{icon} {notice.summary}"}
        case NotificationType.TEAMS:
            return {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": f"{notice.subject}: {notice.reason}",
                "themeColor": "D70000" if notice.warning else "2EB886",
                "title": f"{notice.subject}: {notice.reason}",
                "text": notice.message,
            }
        case _:
            return {
                "source": "aifleet",
                "subject": notice.subject,
                "reason": notice.reason,
                "message": notice.message,
                "type": "Warning" if notice.warning else "Normal",
            }


Report = Callable[[NotificationStatus], None]


class Notifier:
    """Delivers notices to webhook targets in the background."""

    def __init__(
        self,
        mgmt: KubeClient,
        *,
        clock: Callable[[], str],
        attempts: int = 5,
        first_delay: float = 0.2,
        timeout: float = 10.0,
    ) -> None:
        self._mgmt = mgmt
        self.scope = SecretScope()
        """Where webhook Secrets may be read (``--secret-namespaces``)."""
        self._clock = clock
        self._attempts = attempts
        self._first_delay = first_delay
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(
        self, namespace: str, targets: list[Notification], notice: Notice, report: Report
    ) -> None:
        """Deliver ``notice`` to every webhook target; returns at once."""
        for target in targets:
            if target.type is NotificationType.KUBERNETES_EVENT:
                continue  # recorded by the controller itself
            task = asyncio.get_running_loop().create_task(
                self._deliver(namespace, target, notice, report)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for deliveries in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel deliveries in flight and close connections."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _deliver(
        self, namespace: str, target: Notification, notice: Notice, report: Report
    ) -> None:
        body = payload(target.type, notice)
        problem = "no secretRef"
        attempt = 0
        for attempt in range(1, self._attempts + 1):
            problem = await self._attempt(namespace, target, body)
            if not problem:
                report(self._status(target, notice, DeliveryStatus.DELIVERED, attempt, None))
                return
            if attempt < self._attempts:
                await asyncio.sleep(self._first_delay * 2 ** (attempt - 1))
        log.warning(
            "notification %s of %s not delivered after %d attempts: %s",
            target.name,
            notice.subject,
            attempt,
            problem,
        )
        report(self._status(target, notice, DeliveryStatus.FAILED_TO_DELIVER, attempt, problem))

    async def _attempt(self, namespace: str, target: Notification, body: dict[str, Any]) -> str:
        """One try; what went wrong (never the URL), or '' when delivered."""
        ref = target.secret_ref
        if ref is None:
            return f"{target.type.value} needs a secretRef"
        url = await self._url(namespace, ref.name, ref.key, wait=self._read_secret)
        if url.startswith("!"):
            return url[1:]
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(url, json=body) as response:
                if 200 <= response.status < 300:
                    return ""
                return f"the receiver answered HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return f"could not reach the receiver ({type(exc).__name__})"

    async def _read_secret(self, namespace: str, name: str) -> dict[str, Any]:
        self.scope.check(namespace, name, "notification Secret")
        return await self._mgmt.get("v1", "Secret", name, namespace)

    @staticmethod
    async def _url(
        namespace: str,
        name: str,
        key: str,
        *,
        wait: Callable[[str, str], Awaitable[dict[str, Any]]],
    ) -> str:
        """The URL in the Secret, or ``!`` and why it could not be read."""
        try:
            secret = await wait(namespace, name)
        except SecretNamespaceError as exc:
            return f"!{exc}"
        except KubeError as exc:
            return f"!Secret {namespace}/{name}: {type(exc).__name__}"
        data = secret.get("data") or {}
        if key not in data:
            return f"!Secret {namespace}/{name} has no key {key!r}"
        try:
            return base64.b64decode(data[key], validate=True).decode().strip()
        except (ValueError, UnicodeDecodeError):
            return f"!Secret {namespace}/{name} key {key!r} is not base64 text"

    def _status(
        self,
        target: Notification,
        notice: Notice,
        outcome: DeliveryStatus,
        attempts: int,
        message: str | None,
    ) -> NotificationStatus:
        return NotificationStatus(
            name=target.name,
            status=outcome,
            event=f"{notice.reason}: {notice.message}"[:256],
            attempts=attempts,
            message=message,
            last_attempt_time=self._clock(),
        )
