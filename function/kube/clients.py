"""Clients for workload clusters, built from their kubeconfig Secrets and cached.

Cluster API refreshes kubeconfig certificates and EKS tokens expire, so a client is checked
against the digest of the kubeconfig it was built from: the caller hands in the Secret's
kubeconfig when the Secret changed (the reconciler watches kubeconfig Secrets and re-reads one
only when its content moved), an unchanged one reuses the client and its connection pool, a
changed one replaces it. Kubeconfig contents are
credentials: they never appear in errors, logs or status.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from kubernetes.config.config_exception import ConfigException

from function.errors import InvalidError, NotFoundError
from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import DEFAULT_BURST, DEFAULT_QPS, POOL_SIZE, USER_AGENT, AioAdapter
from function.kube.client import KubeClient
from function.model.objects import Object

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ClientFactory = Callable[[Mapping[str, Any]], KubeClient]


def adapter_from_kubeconfig(
    kubeconfig: Mapping[str, Any],
    *,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    user_agent: str = USER_AGENT,
) -> KubeClient:
    """The default factory: an `AioAdapter` for a parsed kubeconfig, rate-limited per cluster."""
    return AioAdapter(
        configuration_from_kubeconfig(kubeconfig, pool_size=POOL_SIZE),
        qps=qps,
        burst=burst,
        user_agent=user_agent,
    )


def kubeconfig_from_secret(secret: Object, key: str) -> bytes:
    """The kubeconfig bytes under ``key`` of a Secret (``data`` is base64, as served)."""
    name = f"Secret {secret.get('metadata', {}).get('namespace', '')}/" + str(
        secret.get("metadata", {}).get("name", "")
    )
    data = secret.get("data") or {}
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise NotFoundError(f"{name} has no key {key!r} (keys: {keys})", status=404)
    try:
        return base64.b64decode(data[key], validate=True)
    except ValueError:
        raise InvalidError(f"{name} key {key!r} is not valid base64") from None


class WorkloadClients:
    """An LRU cache of workload-cluster clients keyed by cluster, checked by content digest."""

    def __init__(self, factory: ClientFactory = adapter_from_kubeconfig, max_size: int = 2048):
        self._factory = factory
        self._max_size = max_size
        self._clients: OrderedDict[str, tuple[str, KubeClient]] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, cluster_key: str, kubeconfig: bytes) -> KubeClient:
        """The client for ``cluster_key``, rebuilt when its kubeconfig changed."""
        digest = hashlib.sha256(kubeconfig).hexdigest()
        async with self._lock:
            cached = self._clients.get(cluster_key)
            if cached is not None and cached[0] == digest:
                self._clients.move_to_end(cluster_key)
                return cached[1]
            client = _build(self._factory, _parse_kubeconfig(kubeconfig, cluster_key), cluster_key)
            self._clients[cluster_key] = (digest, client)
            self._clients.move_to_end(cluster_key)
            stale = [cached[1]] if cached is not None else []
            while len(self._clients) > self._max_size:
                stale.append(self._clients.popitem(last=False)[1][1])
        for old in stale:
            await old.close()
        return client

    def cached(self, cluster_key: str) -> KubeClient | None:
        """The client last built for ``cluster_key``, if any (no check of its kubeconfig)."""
        entry = self._clients.get(cluster_key)
        return entry[1] if entry is not None else None

    async def forget(self, cluster_key: str) -> None:
        """Drop and close the client of a cluster that is gone."""
        async with self._lock:
            cached = self._clients.pop(cluster_key, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        """Close every client."""
        async with self._lock:
            clients = [c for _, c in self._clients.values()]
            self._clients.clear()
        for client in clients:
            await client.close()

    def __len__(self) -> int:
        return len(self._clients)


def _build(factory: ClientFactory, kubeconfig: Mapping[str, Any], cluster_key: str) -> KubeClient:
    try:
        return factory(kubeconfig)
    except ConfigException as exc:  # the kubernetes loader's word for a bad kubeconfig
        raise InvalidError(f"the kubeconfig of {cluster_key} is not usable: {exc}") from None


def _parse_kubeconfig(kubeconfig: bytes, cluster_key: str) -> Mapping[str, Any]:
    try:
        doc = yaml.load(kubeconfig, Loader=_Loader)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise InvalidError(f"the kubeconfig of {cluster_key} is not a valid kubeconfig")
    return doc
