"""Workload clusters that stop answering: counted, marked Down, probed with capped back-off.

Every bundle on a cluster shares its connection, so a connection failure of any target counts
for the cluster. After `Connections.threshold` failures in a row the cluster is Down: each
target on it reports ``connectionStatus: Down`` with the failure and costs no request and no
worker time, while one of them at a time probes the cluster, once per back-off period
(doubling up to a cap). The first probe answered brings the cluster back and calls
``on_reconnect``, which queues every target on it: each then converges its bundle as it is now,
which is every change made while the cluster was away. A cluster being deleted never gets
here (its targets are skipped before any connection is tried).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from function.errors import NotFoundError
from function.kube.client import KubeClient
from function.model.bundlestatus import AddonBundleStatus, ClusterAddonsStatus, ConnectionStatus
from function.reconciler.store import ObjectId

log = logging.getLogger(__name__)


@dataclass
class _Outage:
    """A cluster that failed to answer, from its first failure until it answers."""

    failures: int = 0
    message: str = ""
    since: str | None = None
    """When it was found Down; None while below the threshold."""
    delay: float = 0.0
    next_probe: float = 0.0


class Connections:
    """Per workload cluster, whether it answers; shared by every worker."""

    def __init__(
        self,
        *,
        now: Callable[[], str],
        threshold: int = 3,
        first_probe: float = 1.0,
        longest: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self._first = first_probe
        self._longest = longest
        self._now = now
        self._clock = clock
        self._outages: dict[ObjectId, _Outage] = {}
        self.on_reconnect: Callable[[ObjectId], None] = lambda cluster: None
        """Called with a Down cluster that answered again."""

    def hold(self, cluster: ObjectId) -> float | None:
        """Seconds until a target may try ``cluster`` again, or None to go ahead: the cluster
        is not Down, or the caller takes the probe that is due (the others wait for it)."""
        outage = self._outages.get(cluster)
        if outage is None or outage.since is None:
            return None
        wait = outage.next_probe - self._clock()
        if wait > 0:
            return wait
        outage.next_probe = self._clock() + outage.delay
        return None

    def is_down(self, cluster: ObjectId) -> bool:
        """Whether ``cluster`` is Down."""
        outage = self._outages.get(cluster)
        return outage is not None and outage.since is not None

    async def probe(self, cluster: ObjectId, client: KubeClient) -> None:
        """For a Down cluster, one small request: converging may cost none, and only an
        answer says the cluster is back (`UnavailableError` when it is not)."""
        if not self.is_down(cluster):
            return
        with contextlib.suppress(NotFoundError):  # an answer all the same
            await client.get("v1", "Namespace", "kube-system")

    def failed(
        self, cluster: ObjectId, message: str, *, down_since: str | None = None
    ) -> float | None:
        """Count a connection failure; the seconds until the next probe once it is Down.

        ``down_since``: the status already reports the cluster Down since then (a process
        that started meanwhile knows no failures): it stays Down from that time, rather than
        reported up, counted to the threshold again and found Down anew."""
        outage = self._outages.setdefault(cluster, _Outage())
        outage.failures += 1
        outage.message = message
        if outage.since is None:
            if down_since is not None:
                outage.since, outage.delay = down_since, self._first
                outage.next_probe = self._clock() + outage.delay
                log.info(
                    "workload cluster %s is still Down (since %s): %s",
                    cluster,
                    down_since,
                    message,
                    extra={"cluster": str(cluster), "connectionStatus": "Down", "cause": message},
                )
                return outage.delay
            if outage.failures < self.threshold:
                return None
            outage.since = self._now()
            outage.delay = self._first
            log.warning(
                "workload cluster %s is Down after %d connection failures in a row: %s",
                cluster,
                outage.failures,
                message,
                extra={
                    "cluster": str(cluster),
                    "connectionStatus": "Down",
                    "failures": outage.failures,
                    "reason": "ClusterDown",
                    "cause": message,
                },
            )
        else:
            outage.delay = min(outage.delay * 2, self._longest)
        outage.next_probe = self._clock() + outage.delay
        return outage.delay

    def answered(self, cluster: ObjectId) -> None:
        """``cluster`` answered: clear its failures; a Down one is back (`on_reconnect`)."""
        outage = self._outages.pop(cluster, None)
        if outage is not None and outage.since is not None:
            log.info(
                "workload cluster %s answers again (Down since %s)",
                cluster,
                outage.since,
                extra={
                    "cluster": str(cluster),
                    "connectionStatus": "Up",
                    "downSince": outage.since,
                },
            )
            self.on_reconnect(cluster)

    def forget(self, cluster: ObjectId) -> None:
        """Drop what is known of a cluster that is gone."""
        self._outages.pop(cluster, None)

    def mark(self, cluster: ObjectId, status: ClusterAddonsStatus) -> ClusterAddonsStatus:
        """``status`` with the cluster's connection state (Down, why and since when)."""
        outage = self._outages.get(cluster)
        if outage is None or outage.since is None:
            return status
        return status.model_copy(
            update={
                "connection_status": ConnectionStatus.DOWN,
                "connection_message": outage.message,
                "down_since": outage.since,
            }
        )

    def message(self, cluster: ObjectId) -> str:
        """The last failure of a Down cluster."""
        outage = self._outages.get(cluster)
        return outage.message if outage is not None else ""


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """A target cluster of a bundle that went Down or came back (an Event)."""

    cluster: str
    down: bool
    message: str

    @property
    def reason(self) -> str:
        return "ClusterDown" if self.down else "ClusterReconnected"

    def describe(self) -> str:
        if self.down:
            return f"workload cluster {self.cluster} is Down: {self.message}"
        return f"workload cluster {self.cluster} answers again; its add-ons are brought up to date"


def connection_changes(
    old: AddonBundleStatus | None, new: AddonBundleStatus
) -> list[ConnectionChange]:
    """Clusters of ``new`` whose connection status differs from ``old``'s (pure)."""
    before = {_name(c): c.connection_status for c in (old.clusters if old else [])}
    changes = []
    for cluster in new.clusters:
        name = _name(cluster)
        was_down = before.get(name) is ConnectionStatus.DOWN
        is_down = cluster.connection_status is ConnectionStatus.DOWN
        if was_down != is_down and (is_down or name in before):
            changes.append(ConnectionChange(name, is_down, cluster.connection_message or ""))
    return changes


def _name(cluster: ClusterAddonsStatus) -> str:
    ref = cluster.cluster_ref
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
