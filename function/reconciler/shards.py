"""Sharding the fleet over reconciler replicas, with Kubernetes Leases and labels only.

A cluster belongs to shard ``int(labels["aifleet.io/shard"])`` when it carries that label
(values from 0 to the shard count minus one), otherwise to the SHA-256 of its uid modulo the
shard count, so an unlabelled fleet spreads evenly and a cluster keeps its shard for life. A
bundle follows its ``clusterRef``'s cluster (the form the function composes); a bundle with a
``clusterSelector`` belongs to the shard of its own uid, so every bundle has exactly one
writer of its status.

Each shard has a Lease, ``<prefix>-shard-<n>``, held with the same rules as leader election
(`function.reconciler.leader.LeaderElector`: expiry judged by the candidate's own clock,
resourceVersion-guarded writes). Every replica also renews a membership Lease,
``<prefix>-member-<identity>``, so that each one can count the live replicas and hold its
fair share, ``ceil(shards / replicas)``: a replica that joins makes the others release the
shards above their share, which it then takes; a replica that dies stops renewing, its
Leases expire after one lease period and the others take its shards over (every replica
notes every shard Lease each round, so a Lease's expiry counts from its holder's last renewal,
not from when another replica first wanted it). With ``shards``
given explicitly (``--shards 0,2``) a replica stands by for exactly those and does not
balance. What a replica has applied lives in the API (status, annotations, hashes), so a
shard changing hands costs no writes: the new holder finds everything as it would on a
restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from function.errors import KubeError
from function.kube.client import KubeClient
from function.model.objects import Object, meta
from function.reconciler.leader import API_VERSION, LeaderElector, LeaseSettings

log = logging.getLogger(__name__)

SHARD_LABEL = "aifleet.io/shard"


def shard_of(obj: Object | None, count: int, *, fallback: str = "") -> int:
    """The shard of a cluster (or of a bundle, by its uid): its label, else a hash of its uid.

    ``fallback`` names the object when it is not known yet (hashed instead of the uid). A
    label outside ``0 .. count-1`` or not an integer is ignored (hashed), never an error."""
    m = meta(obj) if obj is not None else {}
    label = (m.get("labels") or {}).get(SHARD_LABEL)
    if label is not None and str(label).isdigit() and int(label) < count:
        return int(label)
    basis = str(m.get("uid") or fallback)
    return int.from_bytes(hashlib.sha256(basis.encode()).digest()[:8], "big") % count


@dataclass(frozen=True)
class ShardSettings:
    """How many shards there are, which this replica may hold, and its Leases."""

    namespace: str
    identity: str
    count: int
    shards: tuple[int, ...] | None = None
    """Only these shards (no balancing); None: any, up to this replica's fair share."""
    prefix: str = "aifleet-reconciler"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def lease(self, name: str) -> LeaseSettings:
        """Settings of one of this replica's Leases."""
        return LeaseSettings(
            self.namespace,
            self.identity,
            name=name,
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
        )


class Shards:
    """The shards this replica holds, kept up to date by `run`."""

    def __init__(
        self,
        client: KubeClient,
        settings: ShardSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.count < 1:
            raise ValueError("the shard count must be at least 1")
        self._client = client
        self._settings = settings
        self._monotonic = monotonic
        self._candidates = sorted(
            set(settings.shards) if settings.shards is not None else set(range(settings.count))
        )
        self._electors = {
            n: LeaderElector(client, settings.lease(self.lease_name(n)), monotonic=monotonic)
            for n in self._candidates
        }
        self._member = LeaderElector(
            client, settings.lease(f"{settings.prefix}-member-{settings.identity}")
        )
        self._renewed: dict[int, float] = {}
        self._seen: dict[str, tuple[object, float]] = {}
        self.held: frozenset[int] = frozenset()

    def lease_name(self, shard: int) -> str:
        """The Lease of one shard."""
        return f"{self._settings.prefix}-shard-{shard}"

    @property
    def count(self) -> int:
        """How many shards the fleet is cut into."""
        return self._settings.count

    def owns(self, shard: int) -> bool:
        """Whether this replica holds ``shard`` now."""
        return shard in self.held

    async def run(self, on_change: Callable[[frozenset[int], frozenset[int]], None]) -> None:
        """Keep the fair share of shards until cancelled; ``on_change(gained, lost)``."""
        try:
            while True:
                await self.step(on_change)
                await asyncio.sleep(self._settings.retry_period)
        finally:
            await self.release()

    async def step(self, on_change: Callable[[frozenset[int], frozenset[int]], None]) -> None:
        """One round: renew membership and held shards, give up or take shards to the share."""
        s = self._settings
        await self._member.try_acquire_or_renew()
        now = self._monotonic()
        held = set(self.held)
        for shard in sorted(held):
            if await self._electors[shard].try_acquire_or_renew():
                self._renewed[shard] = now
            elif (
                not self._electors[shard].is_leader  # another replica holds it now
                or now - self._renewed.get(shard, now) > s.renew_deadline
            ):
                held.discard(shard)
                holder = self._electors[shard].holder
                holder = holder if holder != s.identity else None  # not renewed: nobody known
                log.warning(
                    "shard %d lost: its Lease could not be renewed (held by %s)",
                    shard,
                    holder,
                    extra=self._fields(shard, "lost", holder),
                )
        share = await self._share()
        for shard in sorted(held, reverse=True)[: max(0, len(held) - share)]:
            await self._electors[shard].release()
            held.discard(shard)
            log.info(
                "shard %d released to rebalance (share %d)",
                shard,
                share,
                extra={**self._fields(shard, "released", None), "share": share},
            )
        for shard in self._free_order():
            if len(held) >= share:
                break
            if shard not in held and await self._electors[shard].try_acquire_or_renew():
                held.add(shard)
                self._renewed[shard] = now
                log.info(
                    "shard %d acquired",
                    shard,
                    extra={**self._fields(shard, "acquired", s.identity), "share": share},
                )
        self._publish(frozenset(held), on_change)

    async def release(self) -> None:
        """Hand every Lease back (graceful shutdown): others take the shards at once."""
        for shard in sorted(self.held):
            await self._electors[shard].release()
            log.info("shard %d released", shard, extra=self._fields(shard, "released", None))
        await self._member.release()
        self.held = frozenset()

    # --- helpers -------------------------------------------------------------------------

    def _fields(self, shard: int, change: str, holder: str | None) -> dict[str, object]:
        """The structured fields of a shard's log line: which shard, what happened to it
        (``leadership`` as for the leader Lease), this replica, and who holds it now."""
        return {
            "shard": shard,
            "leadership": change,
            "identity": self._settings.identity,
            "holder": holder,
            "lease": self.lease_name(shard),
        }

    def _publish(
        self, held: frozenset[int], on_change: Callable[[frozenset[int], frozenset[int]], None]
    ) -> None:
        gained, lost = held - self.held, self.held - held
        self.held = held
        if gained or lost:
            log.info(
                "shards held: %s (gained %s, lost %s)",
                sorted(held),
                sorted(gained),
                sorted(lost),
                extra={
                    "identity": self._settings.identity,
                    "shards": sorted(held),
                    "gained": sorted(gained),
                    "lost": sorted(lost),
                },
            )
            on_change(frozenset(gained), frozenset(lost))

    async def _share(self) -> int:
        """How many shards this replica should hold: all its candidates when they are given,
        else the shard count over the live members, rounded up."""
        s = self._settings
        if s.shards is not None:
            return len(self._candidates)
        try:
            listed = await self._client.list(API_VERSION, "Lease", namespace=s.namespace)
        except KubeError as exc:
            log.warning("listing reconciler members: %s", exc)
            return len(self.held)  # keep what is held; take nothing new blind
        now = self._monotonic()
        prefix = f"{s.prefix}-member-"
        shard_electors = {self.lease_name(n): e for n, e in self._electors.items()}
        live = 0
        for lease in listed.items:
            name = str(meta(lease).get("name", ""))
            if name in shard_electors:  # watched all along: a dead holder's expiry is known
                shard_electors[name].observe(lease)
            if not name.startswith(prefix):
                continue
            spec = lease.get("spec") or {}
            record = (spec.get("holderIdentity"), spec.get("renewTime"))
            seen = self._seen.get(name)
            if seen is None or seen[0] != record:
                self._seen[name] = (record, now)
                seen = self._seen[name]
            duration = float(spec.get("leaseDurationSeconds") or s.lease_duration)
            if record[0] and (name == prefix + s.identity or now - seen[1] <= duration):
                live += 1
        return math.ceil(s.count / max(live, 1))

    def _free_order(self) -> list[int]:
        """Candidates in an order that differs by replica, so joiners do not all race for
        the same shard first."""
        start = int(hashlib.sha256(self._settings.identity.encode()).hexdigest(), 16)
        n = len(self._candidates)
        return [self._candidates[(start + i) % n] for i in range(n)]
