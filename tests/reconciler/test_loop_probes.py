"""The sidecar's probes on a running reconciler: /readyz waits for the informers and reports
leader or standby (a standby is ready); /livez fails only when the work loop has stalled."""

import asyncio
import contextlib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.app import ReconcilerApp, Settings
from function.reconciler.leader import LeaseSettings
from tests.reconciler.harness import (
    bundle,
    capi_cluster,
    configmap_addon,
    eventually,
    is_ready,
    running,
)
from tests.reconciler.test_loop_operations import free_port


def fetch(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError:
        return 0, "not listening"


async def probe_until(address: str, path: str, expected: tuple[int, str]) -> None:
    """Poll ``path`` until it answers ``expected`` (status, and the start of its body)."""
    last: list[tuple[int, str]] = []

    async def check() -> bool:
        last[:] = [await asyncio.to_thread(fetch, address, path)]
        status, text = last[0]
        return status == expected[0] and text.startswith(expected[1])

    for _ in range(250):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path}: wanted {expected}, last {last}")


@contextlib.asynccontextmanager
async def second_replica(kubeconfig: dict, settings: Settings) -> AsyncIterator[ReconcilerApp]:
    adapter = ApiAdapter(configuration_from_kubeconfig(kubeconfig))
    app = ReconcilerApp(settings, adapter)
    task = asyncio.create_task(app.run())
    try:
        yield app
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await adapter.close()


async def test_a_standby_is_ready_and_says_so(tmp_path: Path) -> None:
    lease = LeaseSettings("crossplane-system", "r1", retry_period=0.1)
    leader_address = f"127.0.0.1:{free_port()}"
    async with running(tmp_path, lease=lease, probe_address=leader_address) as h:
        await probe_until(leader_address, "/readyz", (200, "leader"))
        address = f"127.0.0.1:{free_port()}"
        standby = Settings(
            workers=1,
            chart_cache=tmp_path / "standby",
            probe_address=address,
            lease=LeaseSettings("crossplane-system", "r2", retry_period=0.1),
        )
        async with second_replica(h.mgmt.kubeconfig(), standby) as app:
            await probe_until(address, "/readyz", (200, "standby"))
            assert await asyncio.to_thread(fetch, address, "/livez") == (200, "ok")
            assert app.elector is not None and not app.elector.is_leader


async def test_not_ready_until_the_informers_have_synced(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        rule = h.mgmt.faults.fail(500, times=None, verb="list", kind="Secret")
        address = f"127.0.0.1:{free_port()}"
        settings = Settings(workers=1, chart_cache=tmp_path / "second", probe_address=address)
        async with second_replica(h.mgmt.kubeconfig(), settings) as app:
            await probe_until(address, "/readyz", (503, "informers not synced"))
            assert await asyncio.to_thread(fetch, address, "/livez") == (200, "ok")
            h.mgmt.faults.remove(rule)
            await asyncio.wait_for(app.ready.wait(), 10)
            assert await asyncio.to_thread(fetch, address, "/readyz") == (200, "ok")


async def test_livez_fails_while_every_worker_is_stuck_and_recovers(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    async with running(tmp_path, workers=1, stall_timeout=0.3, probe_address=address) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        workload = await h.wait_workload("c1")
        slow = workload.faults.slow(3.0, kind="ConfigMap")
        h.mgmt.apply(bundle("one", [configmap_addon("a")]), field_manager="test")
        h.mgmt.apply(bundle("two", [configmap_addon("b")]), field_manager="test")
        await probe_until(address, "/livez", (503, "stalled"))
        status, text = await asyncio.to_thread(fetch, address, "/livez")
        assert status == 503 and text.startswith("stalled: ")
        assert "every worker busy for over 0.3s" in text
        assert await asyncio.to_thread(fetch, address, "/readyz") == (200, "ok")
        workload.faults.remove(slow)
        await h.wait_bundle("one", is_ready, within=30)
        await h.wait_bundle("two", is_ready, within=30)
        await eventually(
            lambda: h.app is not None and len(h.app.queue) == 0, within=10, what="idle"
        )
        assert await asyncio.to_thread(fetch, address, "/livez") == (200, "ok")
