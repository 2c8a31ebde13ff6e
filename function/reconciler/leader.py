"""Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection.

The function's pod may run several replicas and each carries the reconciler sidecar; only the
leader reconciles. A candidate takes the Lease when it is free or when its record has not
changed for ``lease_duration`` seconds *by the candidate's own clock* (never by comparing the
holder's timestamps with ours, so clock skew between nodes cannot cause two leaders), renews
it every ``retry_period``, and gives up leadership when it could not renew for
``renew_deadline``. Writes use the Lease's resourceVersion, so two candidates cannot both win.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from function.errors import ConflictError, KubeError, NotFoundError
from function.kube.client import KubeClient
from function.model.objects import Object

log = logging.getLogger(__name__)

API_VERSION = "coordination.k8s.io/v1"


class LeadershipLostError(Exception):
    """The Lease could not be renewed in time; stop reconciling."""


@dataclass(frozen=True)
class LeaseSettings:
    """Where the Lease is and how long leadership lasts (client-go's defaults)."""

    namespace: str
    identity: str
    name: str = "aifleet-reconciler"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    """Acquire, hold and release one Lease."""

    def __init__(
        self,
        client: KubeClient,
        settings: LeaseSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._monotonic = monotonic
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.is_leader = False

    @property
    def holder(self) -> str | None:
        """Who held the Lease when this candidate last read it (None: nobody, or not read)."""
        return str(self._observed[0]) if self._observed and self._observed[0] else None

    async def acquire(self) -> None:
        """Wait until this candidate holds the Lease (one line when it stands by first)."""
        s = self._settings
        standing_by = False
        while True:
            if await self.try_acquire_or_renew():
                break
            if not standing_by:
                standing_by = True
                log.info(
                    "standing by: Lease %s is held by %s",
                    s.name,
                    self.holder,
                    extra={
                        "leadership": "standby",
                        "identity": s.identity,
                        "lease": s.name,
                        "holder": self.holder,
                    },
                )
            await asyncio.sleep(self._settings.retry_period)
        log.info(
            "became leader as %s",
            s.identity,
            extra={
                "leadership": "acquired",
                "identity": s.identity,
                "lease": s.name,
                "holder": s.identity,
            },
        )

    async def hold(self) -> None:
        """Renew until cancelled; raise `LeadershipLostError` when renewal keeps failing."""
        last_renewed = self._monotonic()
        while True:
            await asyncio.sleep(self._settings.retry_period)
            if await self.try_acquire_or_renew():
                last_renewed = self._monotonic()
            elif self._monotonic() - last_renewed > self._settings.renew_deadline:
                self.is_leader = False
                s = self._settings
                log.error(
                    "lost leadership: could not renew Lease %s",
                    s.name,
                    extra={
                        "leadership": "lost",
                        "identity": s.identity,
                        "lease": s.name,
                        "holder": self.holder,
                    },
                )
                raise LeadershipLostError(f"could not renew Lease {s.name}")

    async def release(self) -> None:
        """Hand the Lease back so a standby takes over at once (on graceful shutdown)."""
        if not self.is_leader:
            return
        try:
            lease = await self._get()
            if lease is not None and _spec(lease).get("holderIdentity") == self._settings.identity:
                lease["spec"] = {**_spec(lease), "holderIdentity": None, "leaseDurationSeconds": 1}
                await self._client.replace(lease)
        except KubeError as exc:
            log.warning("could not release Lease %s: %s", self._settings.name, exc)
        self.is_leader = False

    async def resign(self) -> None:
        """Give leadership up on shutdown: `release`, with the leadership line."""
        if not self.is_leader:
            return
        await self.release()
        s = self._settings
        log.info(
            "gave up leadership: released Lease %s",
            s.name,
            extra={"leadership": "released", "identity": s.identity, "lease": s.name},
        )

    def observe(self, lease: Object) -> None:
        """Note the Lease as read now, also when read elsewhere (a list of every Lease): its
        expiry counts from when this candidate first saw its current record, so a candidate
        that looked all along can take a dead holder's Lease one lease period after its last
        renewal, not a period after it first asked."""
        spec = _spec(lease)
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this candidate holds the Lease afterwards."""
        s = self._settings
        try:
            lease = await self._get()
            if lease is None:
                await self._client.create(self._lease(transitions=0, acquired=_now()))
                self.is_leader = True
                return True
            self.observe(lease)
            spec = _spec(lease)
            holder = spec.get("holderIdentity")
            expired = self._monotonic() - self._observed_at > float(
                spec.get("leaseDurationSeconds") or s.lease_duration
            )
            if holder and holder != s.identity and not expired:
                self.is_leader = False
                return False
            mine = holder == s.identity
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
            acquired = spec.get("acquireTime") if mine else _now()
            renewed = self._lease(transitions=transitions, acquired=acquired)
            renewed["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
            await self._client.replace(renewed)
        except ConflictError:
            self.is_leader = False
            return False
        except KubeError as exc:
            # Not renewed: `hold` lets the leader go on until the renew deadline, no longer.
            log.warning("Lease %s: %s", s.name, exc)
            return False
        self.is_leader = True
        return True

    async def _get(self) -> Object | None:
        try:
            return await self._client.get(
                API_VERSION, "Lease", self._settings.name, self._settings.namespace
            )
        except NotFoundError:
            return None

    def _lease(self, *, transitions: int, acquired: Any) -> Object:
        s = self._settings
        return {
            "apiVersion": API_VERSION,
            "kind": "Lease",
            "metadata": {"name": s.name, "namespace": s.namespace},
            "spec": {
                "holderIdentity": s.identity,
                "leaseDurationSeconds": int(s.lease_duration),
                "acquireTime": acquired,
                "renewTime": _now(),
                "leaseTransitions": transitions,
            },
        }


def _spec(lease: Object) -> dict[str, Any]:
    spec: dict[str, Any] = lease.get("spec") or {}
    return spec


def _now() -> str:
    """A MicroTime, as Lease fields carry."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
