"""Charts render as an install into the target cluster would: ``.Capabilities.KubeVersion``
is the cluster's version from discovery and ``.Capabilities.APIVersions`` what it serves, not
Helm's built-in defaults."""

from pathlib import Path

import pytest

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.kube.client import Capabilities
from function.model.bundle import HelmSource
from function.reconciler.charts import ChartFetcher
from function.reconciler.helm import ChartRenderer, SdkEngine
from function.testing import Fleet
from function.testing.discovery import KUBERNETES_VERSION
from tests.reconciler.harness import REPO, bundle, capi_cluster, is_ready, running

SOURCE = HelmSource(repository="file://tests/charts", chart="capabilities", version="1.0.0")
CHART = {"name": "caps", "namespace": "apps", "helm": SOURCE.model_dump(exclude_none=True)}


@pytest.fixture
def charts(tmp_path: Path) -> ChartRenderer:
    return ChartRenderer(ChartFetcher(tmp_path / "cache", file_root=REPO), SdkEngine())


def data(charts: ChartRenderer, capabilities: Capabilities | None) -> dict[str, str]:
    (only,) = charts.render("caps", SOURCE, {}, "apps", capabilities)
    result: dict[str, str] = only.body["data"]
    return result


def test_an_old_cluster_without_prometheus_operator(charts: ChartRenderer) -> None:
    old = Capabilities("v1.28.9", ("apps/v1", "apps/v1/Deployment", "v1"))
    assert data(charts, old) == {
        "kubeVersion": "v1.28.9",
        "policy": "webhook",
        "monitoring": "false",
        "apps": "true",
    }


def test_a_new_cluster_serving_service_monitors(charts: ChartRenderer) -> None:
    served = ("monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor", "v1")
    got = data(charts, Capabilities("v1.33.2", served))
    assert got["kubeVersion"] == "v1.33.2"
    assert (got["policy"], got["monitoring"], got["apps"]) == (
        "validating-admission-policy",
        "true",
        "false",
    )


async def test_discovery_reads_version_and_every_served_kind() -> None:
    with Fleet(simulation=False) as fleet:
        cluster = fleet.add_cluster("c")
        client = ApiAdapter(configuration_from_kubeconfig(cluster.kubeconfig()))
        try:
            caps = await client.capabilities()
        finally:
            await client.close()
    assert caps.kube_version == KUBERNETES_VERSION["gitVersion"]
    assert {"v1", "v1/ConfigMap", "apps/v1", "apps/v1/Deployment"} <= set(caps.api_versions)
    assert not any(v.endswith("/status") for v in caps.api_versions)


async def test_the_reconciler_renders_against_the_workload_clusters_version(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [CHART]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
        config = h.workload("c1").get("v1", "ConfigMap", "capabilities", "apps")
    assert config["data"]["kubeVersion"] == KUBERNETES_VERSION["gitVersion"]
    assert config["data"]["apps"] == "true"
    assert config["data"]["monitoring"] == "false"
