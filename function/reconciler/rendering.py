"""Reading, hashing and rendering one add-on for a converge pass.

The converger decides what becomes of an add-on (it waits, is applied, planned or judged
healthy); `AddonRenderer` is what it asks for the add-on's inputs: its manifestsFrom templates,
how its chart repository is reached, the input hash that says whether anything changed since
the last apply (remembered with the versions of what it was computed from, so a pass over
unchanged inputs hashes nothing), and the rendered objects prepared for apply. Chart fetches
and renders run in worker threads (fetches on their own pool, as they may wait on a
repository); targets whose add-on renders from the same inputs share one render
(`RenderCache`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from concurrent.futures import Executor
from functools import partial
from typing import Any

from function.errors import RenderError
from function.model.bundle import AddonSpec
from function.model.objects import Object, meta
from function.reconciler.apply import Owner, prepare, resolve_kinds
from function.reconciler.chartaccess import RepositoryAccess, plain_access
from function.reconciler.conflicts import stamp_tier
from function.reconciler.convergepass import TargetPass
from function.reconciler.hashing import addon_hashes
from function.reconciler.helm import ChartRenderer
from function.reconciler.inputs import ABSENT, Inputs, SourceTexts, version_of
from function.reconciler.metrics import ApplyCounts
from function.reconciler.render import render_addon
from function.reconciler.rendercache import RenderCache

Sources = SourceTexts | RenderError
"""An add-on's manifestsFrom templates (with their versions), or why they could not be read."""

Versions = tuple[str | int | None, ...]


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
        self, target: TargetPass, addon: AddonSpec, sources: SourceTexts
    ) -> tuple[str, str]:
        """What the add-on would render from, hashed with and without the target (fetching
        its chart, hence a thread): the input hash and the render key.

        Both are remembered in the target's record with the versions they were computed
        from (`target_versions`, the chart's digest and the sources' versions); a pass that
        finds the same versions reuses them unhashed,
        as a target waiting for health is looked at many times with nothing changed."""
        chart: str | None = None
        if addon.helm is not None:
            access = target.access.get(addon.name)
            known = self._charts.fetcher.cached(addon.helm, access)
            if known is None:
                # Fetching may wait on a chart repository: not on the render threads.
                fetch = partial(self._charts.fetch, addon.name, addon.helm, access)
                loop = asyncio.get_running_loop()
                known = await loop.run_in_executor(self._fetch_pool, fetch)
            chart = known.digest
        context = target_versions(target)
        memo = target.memory.hashed.get(addon.name)
        if (
            context is not None
            and None not in sources.versions
            and memo is not None
            and memo[:3] == (context, chart, sources.versions)
        ):
            return memo[3], memo[4]
        self._counts.input_hashes += 1
        input_hash, render_key = addon_hashes(
            addon,
            target.context,
            sources.texts,
            chart,
            sync_mode=target.spec.policy.mode.value,
            tier=target.spec.tier,
        )
        render_key = sys.intern(render_key)  # equal on the clusters that render alike
        if context is None or None in sources.versions:
            target.memory.hashed.pop(addon.name, None)
        else:
            # The target's part is equal for its add-ons: held once, whichever hashed last.
            held = next((m[0] for m in target.memory.hashed.values() if m[0] == context), context)
            memo = (held, chart, sources.versions, input_hash, render_key)
            target.memory.hashed[addon.name] = memo
        return input_hash, render_key

    async def render(
        self,
        target: TargetPass,
        addon: AddonSpec,
        owner: Owner,
        sources: Mapping[str, str],
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


def target_versions(target: TargetPass) -> Versions | None:
    """The versions of what every add-on's input hash on this target is computed from
    (pure): the bundle's uid and generation (its spec: the add-on, sync mode and tier), the
    cluster's, its infrastructure's and control plane's resourceVersions and those of the
    ``templateResourceRefs`` objects. With the chart's digest and the versions of the add-on's
    ``manifestsFrom`` sources, equal versions mean equal inputs; None when some object has no
    version, so the hash is computed every time."""
    bundle = meta(target.bundle)
    context = target.context
    generation = bundle.get("generation")
    if generation is None:
        return None
    cluster = context.cluster.get("metadata") or {}
    versions: list[str | int | None] = [
        str(bundle.get("uid", "")),
        generation,
        str(cluster.get("uid", "")),
        version_of(context.cluster),
        _version(context.infrastructure),
        _version(context.control_plane),
    ]
    for identifier in sorted(context.resources):
        versions += (identifier, version_of(context.resources[identifier]))
    if None in versions:
        return None
    return tuple(versions)


def _version(obj: Mapping[str, Any] | None) -> str | None:
    return ABSENT if obj is None else version_of(obj)
