"""The fleet: many clusters, use from threads and from asyncio code, lifecycle errors."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client

from function.testing import Fleet

from .conftest import config_map


async def test_usable_from_asyncio_code_with_the_client_in_threads() -> None:
    async with Fleet(simulation=False) as fleet:
        cluster = await asyncio.to_thread(fleet.add_cluster, "async")
        core = client.CoreV1Api(cluster.api_client())
        await asyncio.to_thread(core.create_namespaced_config_map, "default", config_map("a"))
        listed = await asyncio.to_thread(core.list_namespaced_config_map, "default")
        assert [c.metadata.name for c in listed.items] == ["a"]
        assert cluster.get("v1", "ConfigMap", "a", "default")["metadata"]["name"] == "a"


def test_helpers_are_thread_safe() -> None:
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("threads")

        def create(index: int) -> str:
            created = cluster.create(config_map(f"cm-{index}"))
            return str(created["metadata"]["resourceVersion"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            versions = list(pool.map(create, range(100)))
        assert len(set(versions)) == 100
        assert len(cluster.list("v1", "ConfigMap", "default")) == 100


def test_clusters_are_independent() -> None:
    with Fleet(simulation=False) as fleet:
        first, second = fleet.add_cluster("one"), fleet.add_cluster("two")
        first.create(config_map("only-here"))
        assert first.url != second.url
        assert second.list("v1", "ConfigMap", "default") == []
        assert first.resource_version > second.resource_version
        assert [c.name for c in fleet] == ["one", "two"] and len(fleet) == 2
        with pytest.raises(ValueError, match="already has a cluster"):
            fleet.add_cluster("one")
        fleet.remove_cluster("two")
        assert "two" not in fleet


def test_a_stopped_fleet_refuses_work() -> None:
    fleet = Fleet()
    with pytest.raises(RuntimeError, match="not running"):
        fleet.add_cluster("early")
