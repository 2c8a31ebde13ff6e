"""Reading, hashing and rendering one add-on for a converge pass.

The converger decides what becomes of an add-on (it waits, is applied, planned or judged
healthy); `AddonRenderer` is what it asks for the add-on's inputs: its manifestsFrom
templates, how its chart repository is reached, the input hash that says whether anything
changed since the last apply, and the rendered objects prepared for apply. Chart fetches and
renders run in worker threads (fetches on their own pool, as they may wait on a repository);
targets whose add-on renders from the same inputs share one render (`RenderCache`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from functools import partial

from function.errors import RenderError
from function.model.bundle import AddonSpec
from function.model.objects import Object
from function.reconciler.apply import Owner, prepare, resolve_kinds
from function.reconciler.chartaccess import RepositoryAccess, plain_access
from function.reconciler.conflicts import stamp_tier
from function.reconciler.convergepass import TargetPass
from function.reconciler.hashing import addon_hashes
from function.reconciler.helm import ChartRenderer
from function.reconciler.inputs import Inputs
from function.reconciler.metrics import ApplyCounts
from function.reconciler.render import render_addon
from function.reconciler.rendercache import RenderCache

Sources = dict[str, str] | RenderError
"""An add-on's manifestsFrom templates, or why they could not be read."""


class AddonRenderer:
    """Reads and renders add-ons for every converge pass; shared by every worker."""

    def __init__(
        self,
        inputs: Inputs,
        charts: ChartRenderer,
        *,
        render_pool: Executor,
        fetch_pool: Executor,
        counts: ApplyCounts,
    ) -> None:
        self._inputs = inputs
        self._charts = charts
        self._renders = RenderCache()
        self._render_pool = render_pool
        self._fetch_pool = fetch_pool
        self._counts = counts

    async def sources(self, addon: AddonSpec, namespace: str) -> Sources:
        try:
            return await self._inputs.sources(addon, namespace)
        except RenderError as exc:
            return exc

    async def input_hash(
        self, target: TargetPass, addon: AddonSpec, sources: dict[str, str]
    ) -> tuple[str, str]:
        """What the add-on would render from, hashed with and without the target (fetching
        its chart, hence a thread): the input hash and the render key."""

        def digest(chart: str | None) -> tuple[str, str]:
            return addon_hashes(
                addon,
                target.context,
                sources,
                chart,
                sync_mode=target.spec.policy.mode.value,
                tier=target.spec.tier,
            )

        if addon.helm is None:
            return digest(None)
        access = target.access.get(addon.name)
        known = self._charts.fetcher.cached(addon.helm, access)
        if known is not None:  # no I/O: hashed here rather than handed to a thread
            return digest(known.digest)
        helm = addon.helm

        def fetched() -> tuple[str, str]:
            return digest(self._charts.fetch(addon.name, helm, access).digest)

        # Fetching may wait on a chart repository: not on the render threads.
        return await asyncio.get_running_loop().run_in_executor(self._fetch_pool, fetched)

    async def render(
        self,
        target: TargetPass,
        addon: AddonSpec,
        owner: Owner,
        sources: dict[str, str],
        render_key: str,
    ) -> list[Object]:
        """The add-on's objects, rendered in a worker thread (or as another target with the
        same input hash rendered them) and prepared for apply."""

        async def render() -> list[Object]:
            capabilities = await target.client.capabilities() if addon.helm else None
            self._counts.renders += 1
            run = partial(
                render_addon,
                addon,
                target.context,
                manifests_from=sources,
                charts=self._charts,
                capabilities=capabilities,
                access=target.access.get(addon.name),
            )
            loop = asyncio.get_running_loop()
            return (await loop.run_in_executor(self._render_pool, run)).objects

        rendered = await self._renders.get(render_key, render)
        infos = await resolve_kinds(
            target.client,
            rendered,
            addon=addon.name,
            tolerate_unknown=target.spec.policy.tolerates_unknown,
        )
        stamped = stamp_tier(rendered, target.spec.tier)
        return prepare(stamped, owner, infos, default_namespace=addon.namespace or "default")

    async def chart_access(self, target: TargetPass, addon: AddonSpec) -> RepositoryAccess | None:
        """How the add-on's chart repository is reached; its credentials Secret is read only
        while the chart is not fetched yet (with that Secret)."""
        if addon.helm is None:
            return None
        plain = plain_access(addon.helm, target.namespace)
        if plain is None or not plain.secret:
            return plain
        if self._charts.fetcher.cached(addon.helm, plain) is not None:
            return plain
        return await self._inputs.chart_access(addon.name, addon.helm, target.namespace)
