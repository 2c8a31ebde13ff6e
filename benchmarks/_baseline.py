"""The baseline of `benchmarks/reconciler.py`: a naive applier, the way ClusterResourceSet's
``Reconcile`` strategy or a ``helm upgrade --install`` loop delivers add-ons.

On every pass it reads each AddonBundle, its Cluster and kubeconfig Secret, renders every
add-on with the reconciler's own code (`render_addon`, the same `ChartRenderer`, a render pool
of the same size), creates missing namespaces (`ensure_namespace`, like ``--create-namespace``)
and server-side applies every rendered object, add-ons in dependency order and objects in
Helm's install order, through the same transport. No input hash, no object hash, no health
gate, no status. An object whose kind is not served yet (its CRD was just created) fails that
pass; a bundle has converged after a pass with no failure.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from function.errors import KubeError
from function.kube.client import KubeClient
from function.kube.clients import WorkloadClients, kubeconfig_from_secret
from function.model.bundle import API_VERSION, KIND, AddonSpec, dependency_order, parse_bundle_spec
from function.model.objects import Object, meta
from function.reconciler.apply import ensure_namespace, install_rank
from function.reconciler.helm import ChartRenderer
from function.reconciler.render import render_addon
from function.reconciler.templates import TemplateContext

RETRY_DELAY = 0.1
"""Seconds between the passes of a bundle that has not converged yet."""


class NaiveApplier:
    """Applies every rendered object of every add-on of every bundle, on every pass."""

    def __init__(
        self,
        mgmt: KubeClient,
        charts: ChartRenderer,
        *,
        workers: int,
        render_threads: int,
        clients: WorkloadClients | None = None,
    ) -> None:
        self._mgmt = mgmt
        self._charts = charts
        self._clients = clients or WorkloadClients()
        self._render_pool = ThreadPoolExecutor(render_threads, "render")
        self._slots = asyncio.Semaphore(workers)
        self.passes = 0

    async def converge(self) -> None:
        """Pass over every bundle until each has had a pass without failure."""
        bundles = (await self._mgmt.list(API_VERSION, KIND)).items
        await asyncio.gather(*(self._until_clean(b) for b in bundles))

    async def full_pass(self) -> int:
        """One pass over every bundle; the number of objects that failed."""
        bundles = (await self._mgmt.list(API_VERSION, KIND)).items
        return sum(await asyncio.gather(*(self._pass(b) for b in bundles)))

    async def close(self) -> None:
        """Close the workload clients and the render pool."""
        await self._clients.close()
        self._render_pool.shutdown()

    async def _until_clean(self, bundle: Object) -> None:
        while True:
            if not await self._pass(bundle):
                return
            await asyncio.sleep(RETRY_DELAY)

    async def _pass(self, bundle: Object) -> int:
        async with self._slots:
            self.passes += 1
            spec = parse_bundle_spec(bundle["spec"])
            assert spec.cluster_ref is not None, "the inference bundle names its cluster"
            namespace = str(meta(bundle)["namespace"])
            ref = spec.cluster_ref
            cluster = await self._mgmt.get(ref.api_version, ref.kind, ref.name, namespace)
            secret = await self._mgmt.get("v1", "Secret", f"{ref.name}-kubeconfig", namespace)
            client = await self._clients.get(
                f"{namespace}/{ref.name}", kubeconfig_from_secret(secret, "value")
            )
            context = TemplateContext(cluster=cluster)
            failed = 0
            for addon in dependency_order(spec.addons):
                failed += await self._addon(client, addon, context)
            return failed

    async def _addon(self, client: KubeClient, addon: AddonSpec, context: TemplateContext) -> int:
        render = partial(render_addon, addon, context, manifests_from={}, charts=self._charts)
        rendered = await asyncio.get_running_loop().run_in_executor(self._render_pool, render)
        if addon.namespace:
            await ensure_namespace(client, addon.namespace)
        failed = 0
        for obj in sorted(rendered.objects, key=install_rank):
            try:
                body = await _namespaced(client, obj, addon.namespace or "default")
                await client.apply(body, force=addon.force_conflicts)
            except KubeError:
                failed += 1
        return failed


async def _namespaced(client: KubeClient, obj: Object, default: str) -> dict[str, Any]:
    """``obj`` without status, in ``default`` when its kind is namespaced and it names none."""
    info = await client.resource_info(obj["apiVersion"], obj["kind"])
    metadata = dict(meta(obj))
    if info.namespaced:
        metadata.setdefault("namespace", default)
    else:
        metadata.pop("namespace", None)
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": metadata}
