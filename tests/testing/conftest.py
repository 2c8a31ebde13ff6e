"""Fixtures for the emulator's conformance tests: a fleet, a cluster and real clients.

Every test gets a fresh fleet (simulation off unless a test asks for it) and talks to it through
the real `kubernetes` client over HTTP; `server_side_apply` sends raw apply requests through
`ApiClient.call_api`, as a controller without typed models would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from kubernetes import client, dynamic
from kubernetes.client import ApiClient

from function.testing import EmulatedCluster, Fleet
from tests.objects import crd

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet(simulation=False) as running:
        yield running


@pytest.fixture
def cluster(fleet: Fleet) -> EmulatedCluster:
    return fleet.add_cluster("test")


@pytest.fixture
def api(cluster: EmulatedCluster) -> Iterator[ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def core(api: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def dyn(api: ApiClient, tmp_path: Path) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))


def server_side_apply(
    api: ApiClient,
    path: str,
    body: dict[str, Any],
    *,
    manager: str | None,
    force: bool = False,
) -> tuple[int, dict[str, Any]]:
    """PATCH ``path`` with ``application/apply-patch+yaml``; returns status and body."""
    query = {} if manager is None else {"fieldManager": manager}
    if force:
        query["force"] = "true"
    url = f"{api.configuration.host}{path}?{urlencode(query)}"
    headers = {"Content-Type": APPLY, "Accept": "application/json"}
    response = api.call_api("PATCH", url, header_params=headers, body=body)
    response.read()
    return response.status, json.loads(response.data)


def config_map(name: str, data: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": data or {},
    }


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def widget_crd(*, status: bool = True, versions: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
    """A namespaced test CRD ``widgets.example.com``."""
    return crd("example.com", "Widget", versions=versions, status=status, list_kind=False)
