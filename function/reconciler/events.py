"""Kubernetes Events about bundles: add-on phase transitions and drift corrections.

`kubectl describe addonbundle` then tells the story of a rollout (``AddonHealthy``,
``AddonFailed`` with the file and line). Recording is best effort: an Event that cannot be
written is logged, and the reconcile goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from function.errors import KubeError
from function.kube.client import KubeClient
from function.model.objects import Object, meta
from function.reconciler.status import Transition

log = logging.getLogger(__name__)

COMPONENT = "aifleet-reconciler"


class EventRecorder:
    """Writes core/v1 Events about objects of the management cluster."""

    def __init__(self, client: KubeClient, *, clock: Callable[[], str], instance: str = "") -> None:
        self._client = client
        self._clock = clock
        self._instance = instance

    async def transition(self, subject: Object, change: Transition) -> None:
        """Record an add-on's phase change on its bundle (`logs` logs it)."""
        await self.record(
            subject, reason=change.reason, message=change.describe(), warning=change.warning
        )

    async def record(
        self, subject: Object, *, reason: str, message: str, warning: bool = False
    ) -> None:
        """Record an Event about ``subject``."""
        m = meta(subject)
        now = self._clock()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{m['name']}.", "namespace": m["namespace"]},
            "involvedObject": {
                "apiVersion": subject["apiVersion"],
                "kind": subject["kind"],
                "name": m["name"],
                "namespace": m["namespace"],
                "uid": m.get("uid", ""),
            },
            "type": "Warning" if warning else "Normal",
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._client.create(event)
        except KubeError as exc:
            log.warning("could not record event %s on %s: %s", reason, m["name"], exc)
