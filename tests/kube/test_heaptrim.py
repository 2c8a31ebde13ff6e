"""`HeapTrim`: the heap a burst freed goes back to the system once requests pause, once per
pause, and the clients' requests are what it waits on."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.kube.aio import AioAdapter
from function.kube.heaptrim import QUIET_SECONDS, HeapTrim, glibc_trim, heap, resident_kib
from function.testing import EmulatedCluster, Fleet
from tests.reconciler.harness import eventually

MIB = 1024


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    with Fleet() as fleet:
        yield fleet.add_cluster("c", simulation=False)


def fragment_heap(total_mib: int) -> list[bytes]:
    """Fill ``total_mib`` of the C heap with 4 KB blocks and free 15 of every 16: the freed
    pages lie between blocks still held, where the allocator keeps them resident."""
    blocks = [bytes(4000) for _ in range(total_mib * 256)]
    return blocks[::16]


def test_the_c_library_is_glibc_and_its_trim_is_found() -> None:
    assert platform.libc_ver()[0] == "glibc"  # the images and the test machines run Debian
    assert glibc_trim() is not None


async def test_freed_pages_between_live_blocks_go_back_once_requests_pause() -> None:
    trim = HeapTrim(glibc_trim(), quiet=0.05)
    kept = fragment_heap(64)
    before = resident_kib()
    trim.used()
    trim.used()  # a second request before the pause: still one trim
    await asyncio.sleep(0.02)
    assert trim.trims == 0  # not while requests may still come
    await eventually(lambda: trim.trims == 1, within=5, what="a trim")
    assert trim.released_kib >= 32 * MIB
    assert before - resident_kib() >= 32 * MIB
    await asyncio.sleep(0.2)
    assert trim.trims == 1  # nothing ran since: no second trim
    assert len(kept) == 64 * 16


async def test_trims_are_spaced_by_their_own_cost() -> None:
    trim = HeapTrim(glibc_trim(), quiet=0.01, duty=1e-9)  # any trim then waits for ages
    trim.used()
    await eventually(lambda: trim.trims == 1, within=5, what="the first trim")
    trim.used()
    await asyncio.sleep(0.3)
    assert trim.trims == 1
    trim.cancel()


async def test_without_glibc_nothing_is_trimmed() -> None:
    trim = HeapTrim(None, quiet=0.01)
    assert not trim.enabled
    trim.used()
    await asyncio.sleep(0.1)
    assert (trim.trims, trim.released_kib) == (0, 0)


@pytest.mark.parametrize("transport", [AioAdapter, ApiAdapter])
async def test_the_clients_requests_are_what_the_trim_waits_on(
    cluster: EmulatedCluster, transport: type[AioAdapter | ApiAdapter]
) -> None:
    client = transport(configuration_from_kubeconfig(cluster.kubeconfig()))
    try:
        trims = heap.trims
        await client.list("v1", "ConfigMap", namespace="default", label_selector=None)
        await eventually(
            lambda: heap.trims == trims + 1, within=QUIET_SECONDS + 5, what="a trim after it"
        )
        await asyncio.sleep(QUIET_SECONDS + 0.2)
        assert heap.trims == trims + 1
    finally:
        await client.close()
