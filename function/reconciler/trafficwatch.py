"""Traffic signals of placed models, read from ConfigMaps the serving side keeps on its cluster.

``idleAfter`` tears a deployment down after so long without traffic. Besides the
``aifleet.io/last-traffic`` annotation on the deployment, the serving side may report traffic
where it runs: a ConfigMap on the workload cluster, in any namespace, labelled
``aifleet.io/traffic: <model name>`` whose ``lastTraffic`` key holds the RFC 3339 time of the
last request it saw. `TrafficWatches` watches those ConfigMaps (narrowed by the label, keeping
only the label and that key) through the list+watch machinery of event triggers
(`function.reconciler.eventwatch`), on the clusters a deployment with ``idleAfter`` is placed
on, one watch per cluster however many deployments look at it; nothing polls. A change queues
the deployments looking at that cluster, and `last_traffic` gives the latest signal of a model
over its clusters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from function.model.objects import Object, meta
from function.reconciler.eventwatch import Connect, EventWatches, WatchKey
from function.reconciler.store import ObjectId

log = logging.getLogger(__name__)

TRAFFIC_LABEL = "aifleet.io/traffic"
"""On a workload cluster's ConfigMap: the name of the model whose traffic it reports."""
TRAFFIC_KEY = "lastTraffic"
"""The ConfigMap's key holding the RFC 3339 time of the last request."""


def slim_traffic(obj: Object) -> Object:
    """A traffic ConfigMap cut down to its label and its time."""
    m = meta(obj)
    model = (m.get("labels") or {}).get(TRAFFIC_LABEL)
    value = (obj.get("data") or {}).get(TRAFFIC_KEY)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "labels": {TRAFFIC_LABEL: model} if model is not None else {},
        },
        "data": {TRAFFIC_KEY: value} if value is not None else {},
    }


def parse_signal(value: object, where: str) -> datetime | None:
    """An RFC 3339 time, or None (said in a log line) when it is not one."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        log.warning("ignoring %s=%r: not an RFC 3339 time", where, value)
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _key(cluster: ObjectId) -> WatchKey:
    return WatchKey(cluster, "", "v1", "ConfigMap", selector=TRAFFIC_LABEL)


class TrafficWatches:
    """ConfigMap watches of the clusters deployments with ``idleAfter`` are placed on."""

    def __init__(self, connect: Connect, on_change: Callable[[str], None]) -> None:
        self._on_change = on_change
        self.watches = EventWatches(connect, self._changed, keep=slim_traffic)

    def _changed(self, cluster: ObjectId) -> None:
        for owner in self.watches.owners(cluster):
            self._on_change(owner)

    def want(self, owner: str, clusters: Iterable[ObjectId]) -> None:
        """``owner`` (a deployment) reads the traffic of exactly ``clusters`` now."""
        self.watches.want(owner, (_key(c) for c in clusters))

    def last_traffic(
        self, clusters: Iterable[ObjectId], model: str
    ) -> tuple[datetime | None, bool]:
        """The latest time a ConfigMap on ``clusters`` reports for ``model``, and whether
        every one of their watches has listed (a watch that failed since counts: it keeps
        what it had)."""
        latest: datetime | None = None
        complete = True
        for cluster in clusters:
            view = self.watches.view(_key(cluster))
            if view is None or not view.synced:
                complete = False
                continue
            for obj in view.objects.values():
                if (meta(obj).get("labels") or {}).get(TRAFFIC_LABEL) != model:
                    continue
                m = meta(obj)
                where = f"{TRAFFIC_KEY} of ConfigMap {m.get('namespace')}/{m.get('name')}"
                when = parse_signal((obj.get("data") or {}).get(TRAFFIC_KEY), where)
                if when is not None and (latest is None or when > latest):
                    latest = when
        return latest, complete

    async def close(self) -> None:
        """Stop every watch."""
        await self.watches.close()
