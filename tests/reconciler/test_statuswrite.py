"""`StatusWriter` composes from what its own last write returned while the informer's copy
still predates it, and from the informer's copy once that has caught up (it keeps no second
copy of a settled bundle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from function.kube.adapter import configuration_from_kubeconfig
from function.kube.aio import AioAdapter
from function.kube.client import KubeClient
from function.reconciler.statuswrite import StatusWriter
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)


async def test_a_write_is_composed_from_the_last_write_until_the_informer_catches_up(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, start=False, simulation=False) as h:
        h.mgmt.create(bundle("b", [configmap_addon("a", "x")]))
        stale = h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)
        client = AioAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        writer = StatusWriter(client)
        bases: list[str] = []

        def compose(n: int) -> Any:
            def status(base: dict[str, Any]) -> dict[str, Any]:
                bases.append(str(base["metadata"]["resourceVersion"]))
                return {"observedGeneration": n}

            return status

        try:
            first = await writer.write(stale, compose(1))
            assert first is not None and first.changed
            after = h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)
            # The informer's copy still predates the write: composed from what it returned.
            await writer.write(stale, compose(2))
            assert bases[-1] == after["metadata"]["resourceVersion"]
            assert h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)["status"] == {
                "observedGeneration": 2
            }
            # The informer caught up: what the write returned is forgotten, and a write from
            # a copy that is stale again is refused, read again and composed from the fresh one.
            writer.seen(after)  # the copy the last write was based on: still remembered
            assert len(writer) == 1
            writer.seen(h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE))
            assert len(writer) == 0
            bases.clear()
            await writer.write(stale, compose(3))
            fresh = h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)
            assert bases[0] == stale["metadata"]["resourceVersion"]
            assert writer.conflicts == 1
            assert fresh["status"] == {"observedGeneration": 3}
        finally:
            await client.close()


async def test_a_settled_bundle_is_not_held_twice(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        addons = [configmap_addon("a"), configmap_addon("b", "a")]
        h.mgmt.apply(bundle("stack", addons), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        assert h.app is not None
        writer = h.app.reconciler._publisher.writer
        await eventually(lambda: len(writer) == 0, within=5, what="the writes forgotten")


class _InformerFirst:
    """The real client, whose status writes return only after the informer has been handed
    the written version: the order in which a busy loop may deliver them."""

    def __init__(self, client: AioAdapter, deliver: Any) -> None:
        self._client = client
        self._deliver = deliver

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def patch_status(self, *args: Any, **kwargs: Any) -> Any:
        after = await self._client.patch_status(*args, **kwargs)
        self._deliver(after)
        return after


async def test_a_write_the_informer_delivered_before_its_response_is_not_held(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, start=False, simulation=False) as h:
        h.mgmt.create(bundle("b", [configmap_addon("a", "x")]))
        current = h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)
        client = AioAdapter(configuration_from_kubeconfig(h.mgmt.kubeconfig()))
        writer = StatusWriter(cast(KubeClient, _InformerFirst(client, lambda a: writer.seen(a))))
        try:
            written = await writer.write(current, lambda base: {"observedGeneration": 1})
            assert written is not None and written.changed
            assert h.mgmt.get(BUNDLE_API, "AddonBundle", "b", NAMESPACE)["status"] == {
                "observedGeneration": 1
            }
            assert len(writer) == 0  # the informer already has what the write returned
        finally:
            await client.close()
