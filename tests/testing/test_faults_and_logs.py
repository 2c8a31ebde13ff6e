"""Fault injection and the write and request logs, observed through the real client."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from function.testing import EmulatedCluster

from .conftest import config_map


def without_retries(core: client.CoreV1Api) -> client.CoreV1Api:
    """Surface transport errors at once instead of after urllib3's retries."""
    core.api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return core


def test_fail_next_request_then_recover(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    rule = cluster.faults.fail(500, verb="list", kind="ConfigMap")
    with pytest.raises(ApiException) as error:
        core.list_namespaced_config_map("default")
    assert error.value.status == 500
    assert '"reason":"InternalError"' in error.value.body
    assert core.list_namespaced_config_map("default").items == []
    assert rule.hits == 1 and cluster.faults.rules == []


def test_faults_match_verb_and_kind_only(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    cluster.faults.fail(503, times=None, verb="create", kind="Secret")
    core.create_namespaced_config_map("default", config_map("fine"))
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
        assert error.value.status == 503
    cluster.faults.clear()
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}})


def test_throttling_sends_retry_after(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    cluster.faults.throttle(retry_after=7, verb="create")  # urllib3 would honour it on GETs
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", config_map("throttled"))
    assert error.value.status == 429
    assert error.value.headers["Retry-After"] == "7"
    assert '"retryAfterSeconds":7' in error.value.body


def test_slow_responses_trip_client_timeouts(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    cluster.faults.slow(2.0, times=1, verb="list")
    without_retries(core)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.list_namespace(_request_timeout=(5, 0.2))
    assert "default" in {n.metadata.name for n in core.list_namespace().items}


def test_offline_cluster_refuses_connections(cluster: EmulatedCluster) -> None:
    core = without_retries(client.CoreV1Api(cluster.api_client()))
    with cluster.faults.offline():
        assert not cluster.online
        with pytest.raises(urllib3.exceptions.NewConnectionError) as error:
            core.list_namespace()
        assert "Connection refused" in str(error.value)
    assert cluster.online
    assert core.list_namespace().items


def test_write_log_records_effective_writes_in_order(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    core.create_namespaced_config_map("default", config_map("a"), field_manager="tool")
    mark = cluster.writes.mark()
    cluster.apply(config_map("b", {"k": "v"}), field_manager="gitops")
    cluster.apply(config_map("b", {"k": "v"}), field_manager="gitops")  # no-op
    core.delete_namespaced_config_map("a", "default")
    assert cluster.writes.names(since=mark) == ["ConfigMap/default/b", "ConfigMap/default/a"]
    applies = cluster.writes.filter(verb="apply", field_manager="gitops")
    assert len(applies) == 1 and applies[0].resource_version == str(
        cluster.get("v1", "ConfigMap", "b", "default")["metadata"]["resourceVersion"]
    )
    assert cluster.writes.count(verb="create", field_manager="tool") == 1
    assert cluster.writes.count(verb="delete", name="a") == 1


def test_request_log_counts_reads_and_refusals(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    core.list_namespaced_config_map("default")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", "default")
    assert cluster.requests.count(verb="list", kind="ConfigMap", code=200) == 1
    assert cluster.requests.count(verb="get", kind="ConfigMap", code=404) == 1


def test_unknown_record_fields_are_rejected(cluster: EmulatedCluster) -> None:
    with pytest.raises(TypeError):
        cluster.writes.filter(manager="x")


def test_watches_are_logged_when_they_start(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    list(watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1))
    assert cluster.requests.count(verb="watch", kind="ConfigMap", code=200) == 1
