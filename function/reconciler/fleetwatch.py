"""Live GPU capacity of the fleet, kept current by watches of workload Nodes and Pods.

Placement needs, per workload cluster, the allocatable GPUs and GPU feature discovery labels of
its Nodes and the GPUs its running Pods request. `FleetWatches` gets them from the shared
list+watch machinery of event triggers (`function.reconciler.eventwatch`): one Node watch and
one Pod watch per cluster however many deployments look at it, started when the first one
wants the cluster and stopped when the last one no longer does. Each watch keeps only the
fields capacity reads (`slim_for_capacity`), so a cluster of many pods costs little memory;
nothing polls. `capacity` turns a synced cluster's views into the `ClusterCapacity` of
`function.placement.capacity` (cached until the next change), and `model_pods` gives the
running pods of one model, which turn a placement's reservation into GPUs it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from function.compose import naming
from function.model.objects import Object, meta
from function.placement.capacity import (
    GFD_MEMORY,
    GFD_PRODUCT,
    GFD_REPLICAS,
    GPU_RESOURCE,
    ClusterCapacity,
    cluster_capacity,
)
from function.reconciler.eventwatch import Connect, EventWatches, KindView, WatchKey
from function.reconciler.store import ObjectId

NODE_LABELS = (GFD_PRODUCT, GFD_MEMORY, GFD_REPLICAS)
POD_LABELS = (naming.LABEL_MODEL,)


def slim_for_capacity(obj: Object) -> Object:
    """A Node or Pod cut down to what capacity reads; any other kind is kept whole."""
    m = meta(obj)
    kind = obj.get("kind")
    if kind == "Node":
        labels = {k: v for k, v in (m.get("labels") or {}).items() if k in NODE_LABELS}
        allocatable = ((obj.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE)
        slim: Object = {"metadata": {"name": m.get("name"), "labels": labels}}
        if allocatable is not None:
            slim["status"] = {"allocatable": {GPU_RESOURCE: allocatable}}
    elif kind == "Pod":
        labels = {k: v for k, v in (m.get("labels") or {}).items() if k in POD_LABELS}
        spec = obj.get("spec") or {}
        slim = {
            "metadata": {"name": m.get("name"), "namespace": m.get("namespace"), "labels": labels},
            "spec": {
                "nodeName": spec.get("nodeName"),
                "containers": [_gpu_only(c) for c in spec.get("containers") or []],
                "initContainers": [_gpu_only(c) for c in spec.get("initContainers") or []],
            },
            "status": {"phase": (obj.get("status") or {}).get("phase")},
        }
    else:
        return obj
    slim["apiVersion"], slim["kind"] = obj.get("apiVersion"), kind
    return slim


def _gpu_only(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        value = (resources.get(part) or {}).get(GPU_RESOURCE)
        if value is not None:
            out[part] = {GPU_RESOURCE: value}
    return {"resources": out}


def _keys(cluster: ObjectId) -> tuple[WatchKey, WatchKey]:
    return WatchKey(cluster, "", "v1", "Node"), WatchKey(cluster, "", "v1", "Pod")


class FleetWatches:
    """Node and Pod watches of the clusters placement looks at."""

    def __init__(self, connect: Connect, on_change: Callable[[ObjectId], None]) -> None:
        self._changes: dict[ObjectId, int] = {}
        self._cache: dict[ObjectId, tuple[tuple[Any, ...], ClusterCapacity]] = {}
        self._on_change = on_change
        self.watches = EventWatches(connect, self._changed, keep=slim_for_capacity)

    def _changed(self, cluster: ObjectId) -> None:
        self._changes[cluster] = self._changes.get(cluster, 0) + 1
        self._on_change(cluster)

    def want(self, owner: str, clusters: Iterable[ObjectId]) -> None:
        """``owner`` (a deployment) looks at exactly ``clusters`` now."""
        self.watches.want(owner, (k for c in clusters for k in _keys(c)))
        live = {k.cluster for k in self.watches.active()}
        for gone in [c for c in self._cache if c not in live]:
            del self._cache[gone]
            self._changes.pop(gone, None)

    def owners(self, cluster: ObjectId) -> list[str]:
        """The deployments looking at ``cluster``."""
        return self.watches.owners(cluster)

    def _views(self, cluster: ObjectId) -> tuple[KindView[Object], KindView[Object]] | None:
        nodes, pods = (self.watches.view(k) for k in _keys(cluster))
        if nodes is None or pods is None or not (nodes.synced and pods.synced):
            return None
        return nodes, pods

    def error(self, cluster: ObjectId) -> str | None:
        """Why the cluster's watches are not running right now, if they are not."""
        for key in _keys(cluster):
            view = self.watches.view(key)
            if view is not None and view.error:
                return view.error
        return None

    def capacity(
        self, cluster: ObjectId, name: str, labels: Mapping[str, str], *, ready: bool
    ) -> ClusterCapacity | None:
        """The cluster's capacity, or None until both its watches have listed."""
        views = self._views(cluster)
        if views is None:
            return None
        stamp = (self._changes.get(cluster, 0), name, tuple(sorted(labels.items())), ready)
        cached = self._cache.get(cluster)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        nodes, pods = views
        made = cluster_capacity(
            name, labels, nodes.objects.values(), pods.objects.values(), ready=ready
        )
        self._cache[cluster] = (stamp, made)
        return made

    def model_pods(self, cluster: ObjectId, model: str) -> list[Object]:
        """The pods of the cluster labelled as serving ``model``."""
        views = self._views(cluster)
        if views is None:
            return []
        return [
            p
            for p in views[1].objects.values()
            if (meta(p).get("labels") or {}).get(naming.LABEL_MODEL) == model
        ]

    async def close(self) -> None:
        """Stop every watch."""
        await self.watches.close()
