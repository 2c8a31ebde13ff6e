"""The kube seam on the emulator, over both transports: verbs, discovery, watches, errors,
client-side rate limits."""

import asyncio
import base64
import json
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from function.errors import (
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    UnavailableError,
)
from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.kube.aio import AioAdapter, TokenBucket, user_agent
from function.kube.client import EventType, KubeClient, PatchType
from function.kube.clients import WorkloadClients, kubeconfig_from_secret
from function.testing import EmulatedCluster, Fleet
from tests.objects import crd
from tests.reconciler.harness import eventually

WIDGETS = crd("example.com", "Widget")


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": data,
    }


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    with Fleet() as fleet:
        yield fleet.add_cluster("c", simulation=False)  # the protocol alone: no controller writes


TRANSPORTS = {"aiohttp": AioAdapter, "threads": ApiAdapter}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> type[AioAdapter | ApiAdapter]:
    return TRANSPORTS[request.param]


@pytest.fixture
async def client(
    cluster: EmulatedCluster, transport: type[AioAdapter | ApiAdapter]
) -> AsyncIterator[KubeClient]:
    adapter = transport(configuration_from_kubeconfig(cluster.kubeconfig()))
    yield adapter
    await adapter.close()


async def test_apply_get_list_patch_replace_delete(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    applied = await client.apply(config_map("a", k="1"))
    assert applied["metadata"]["managedFields"][0]["manager"] == "aifleet"
    got = await client.get("v1", "ConfigMap", "a", "default")
    assert got["data"] == {"k": "1"}
    listed = await client.list("v1", "ConfigMap", namespace="default", label_selector=None)
    assert [(o["kind"], o["apiVersion"], o["metadata"]["name"]) for o in listed.items] == [
        ("ConfigMap", "v1", "a")
    ]
    assert int(listed.resource_version) >= int(got["metadata"]["resourceVersion"])
    patched = await client.patch("v1", "ConfigMap", "a", "default", {"data": {"j": "2"}})
    assert patched["data"] == {"k": "1", "j": "2"}
    json_patched = await client.patch(
        "v1",
        "ConfigMap",
        "a",
        "default",
        [{"op": "remove", "path": "/data/j"}],
        patch_type=PatchType.JSON,
    )
    assert json_patched["data"] == {"k": "1"}
    stale = dict(got)
    with pytest.raises(ConflictError):
        await client.replace(stale)  # its resourceVersion is behind the two patches
    await client.delete("v1", "ConfigMap", "a", "default")
    with pytest.raises(NotFoundError):
        await client.get("v1", "ConfigMap", "a", "default")
    with pytest.raises(NotFoundError):
        await client.delete("v1", "ConfigMap", "a", "default")
    writes = [(r.verb, r.field_manager) for r in cluster.writes.filter(kind="ConfigMap")]
    assert writes[:3] == [("apply", "aifleet"), ("patch", "aifleet"), ("patch", "aifleet")]
    assert writes[3][0] == "delete"


async def test_a_kind_is_served_once_its_crd_is_registered(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    with pytest.raises(NotFoundError, match=r"does not serve kind 'Widget' in example\.com/v1"):
        await client.resource_info("example.com/v1", "Widget")
    cluster.apply(WIDGETS, field_manager="test")
    info = await client.resource_info("example.com/v1", "Widget")
    assert (info.plural, info.namespaced, info.group) == ("widgets", True, "example.com")
    with pytest.raises(NotFoundError, match="does not serve kind 'Gadget'"):
        await client.resource_info("example.com/v1", "Gadget")


async def test_integers_past_64_bits_are_sent_exactly_and_read_as_the_api_server_would(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    cluster.apply(WIDGETS, field_manager="test")
    huge = 2**70 + 1
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {"size": huge, "small": -(2**63), "label": "größe ✓"},
    }
    await client.apply(widget)
    stored = cluster.get("example.com/v1", "Widget", "big", "default")["spec"]
    assert stored == widget["spec"]  # the body carried every digit
    got = (await client.get("example.com/v1", "Widget", "big", "default"))["spec"]
    # Read back as a float, as kube-apiserver itself keeps a number past int64 in a CR.
    assert got == {"size": float(huge), "small": -(2**63), "label": "größe ✓"}


async def test_each_write_and_request_is_logged_with_the_clients_user_agent(
    cluster: EmulatedCluster,
) -> None:
    adapter = AioAdapter(
        configuration_from_kubeconfig(cluster.kubeconfig()), user_agent=user_agent("replica-7")
    )
    try:
        await adapter.apply(config_map("ua", k="1"))
        await adapter.get("v1", "ConfigMap", "ua", "default")
    finally:
        await adapter.close()
    cluster.apply(config_map("inside", k="1"), field_manager="test")
    agents = {
        (w.name, w.field_manager, w.user_agent) for w in cluster.writes.filter(kind="ConfigMap")
    }
    assert agents == {
        ("ua", "aifleet", "aifleet/reconciler (replica-7)"),
        ("inside", "test", ""),
    }
    requests = {(r.verb, r.user_agent) for r in cluster.requests.filter(name="ua")}
    assert requests == {
        ("apply", "aifleet/reconciler (replica-7)"),
        ("get", "aifleet/reconciler (replica-7)"),
    }


async def test_status_is_patched_through_its_subresource(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    cluster.simulation.disable("deployment-available")
    await client.apply(deployment)
    await client.patch_status("apps/v1", "Deployment", "d", "default", {"replicas": 7})
    assert cluster.get("apps/v1", "Deployment", "d", "default")["status"]["replicas"] == 7


ENTRIES = crd("example.com", "Board", status=True)
ENTRIES["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"] = {
    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
}
ENTRIES["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] = {
    "type": "object",
    "properties": {
        "entries": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["key"],
            "items": {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string"}, "value": {"type": "integer"}},
            },
        },
        "total": {"type": "integer"},
    },
}


async def test_status_is_applied_through_its_subresource_each_manager_keeping_its_entries(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    cluster.apply(ENTRIES, field_manager="test")
    board = {"apiVersion": "example.com/v1", "kind": "Board"}
    board["metadata"] = {"name": "b", "namespace": "default"}
    await client.apply({**board, "spec": {"size": 1}})

    def status(**fields: Any) -> dict[str, Any]:
        return {**board, "status": fields}

    def entries(*keys: str) -> list[dict[str, Any]]:
        return [{"key": k, "value": int(k[1:])} for k in keys]

    await client.apply(status(entries=entries("a1", "a2")), field_manager="a", subresource="status")
    got = await client.apply(
        status(entries=entries("b3"), total=3), field_manager="b", subresource="status"
    )
    assert got["spec"] == {"size": 1}  # the status subresource leaves the spec alone
    assert [e["key"] for e in got["status"]["entries"]] == ["a1", "a2", "b3"]
    # An entry its manager no longer applies goes; the other manager's stay, as do its fields.
    got = await client.apply(status(entries=entries("a2")), field_manager="a", subresource="status")
    assert got["status"] == {"entries": entries("a2", "b3"), "total": 3}
    managers = {
        m["manager"]: m
        for m in got["metadata"]["managedFields"]
        if m.get("subresource") == "status"
    }
    assert set(managers) == {"a", "b"}
    owned = json.dumps(managers["a"]["fieldsV1"])
    assert '{\\"key\\":\\"a2\\"}' in owned and "b3" not in owned
    with pytest.raises(InvalidError):  # an entry without its key is refused
        await client.apply(status(entries=[{"value": 4}]), field_manager="a", subresource="status")


async def test_errors_are_mapped_with_the_servers_hints(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    cluster.faults.throttle(retry_after=3, verb="get")
    with pytest.raises(UnavailableError) as throttled:
        await client.get("v1", "ConfigMap", "a", "default")
    assert (throttled.value.status, throttled.value.retry_after) == (429, 3.0)
    cluster.faults.fail(500, verb="list")
    with pytest.raises(UnavailableError):
        await client.list("v1", "ConfigMap")
    with pytest.raises(InvalidError):
        await client.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "Not_A_Name", "namespace": "default"},
            }
        )
    with cluster.faults.offline(), pytest.raises(UnavailableError):
        await client.get("v1", "ConfigMap", "a", "default")


async def test_watch_streams_changes_and_says_when_a_version_is_gone(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    start = (await client.list("v1", "ConfigMap", namespace="default")).resource_version
    cluster.apply(config_map("w", k="1"), field_manager="test")
    cluster.apply(config_map("w", k="2"), field_manager="test")
    seen = []
    async for event in client.watch("v1", "ConfigMap", resource_version=start, timeout_seconds=1):
        if event.type is not EventType.BOOKMARK:
            seen.append((event.type, event.object["data"]["k"]))
        if len(seen) == 2:
            break
    assert seen == [(EventType.ADDED, "1"), (EventType.MODIFIED, "2")]


async def test_a_watch_from_a_version_past_the_history_is_gone(
    transport: type[AioAdapter | ApiAdapter],
) -> None:
    with Fleet(watch_history=2) as fleet:
        cluster = fleet.add_cluster("c")
        client = transport(configuration_from_kubeconfig(cluster.kubeconfig()))
        start = (await client.list("v1", "ConfigMap")).resource_version
        for value in "1234":
            cluster.apply(config_map("w", k=value), field_manager="test")
        with pytest.raises(GoneError):
            async for _ in client.watch(
                "v1", "ConfigMap", resource_version=start, timeout_seconds=1
            ):
                pass
        await client.close()


async def test_watch_ends_with_the_servers_timeout(client: KubeClient) -> None:
    start = (await client.list("v1", "ConfigMap")).resource_version
    events = [
        e async for e in client.watch("v1", "ConfigMap", resource_version=start, timeout_seconds=1)
    ]
    assert all(e.type is EventType.BOOKMARK for e in events)


async def test_workload_clients_are_cached_and_rebuilt_when_the_kubeconfig_changes() -> None:
    with Fleet(simulation=False) as fleet:
        one, two = fleet.add_cluster("one"), fleet.add_cluster("two")
        one.create(config_map("here"))
        clients = WorkloadClients()
        first = await clients.get("c", one.kubeconfig_yaml().encode())
        assert await clients.get("c", one.kubeconfig_yaml().encode()) is first
        assert clients.cached("c") is first
        second = await clients.get("c", two.kubeconfig_yaml().encode())
        assert second is not first and len(clients) == 1
        with pytest.raises(NotFoundError):
            await second.get("v1", "ConfigMap", "here", "default")
        with pytest.raises(InvalidError, match="not a valid kubeconfig"):
            await clients.get("d", b"not: [a kubeconfig")
        await clients.close()


def test_kubeconfig_from_secret_names_missing_keys_without_leaking_data() -> None:
    secret = {
        "metadata": {"name": "c1-kubeconfig", "namespace": "t"},
        "data": {"other": "c2VjcmV0"},
    }
    with pytest.raises(NotFoundError) as missing:
        kubeconfig_from_secret(secret, "value")
    assert str(missing.value) == "Secret t/c1-kubeconfig has no key 'value' (keys: other)"
    assert "c2VjcmV0" not in str(missing.value) and "secret" not in str(missing.value)
    secret["data"]["value"] = "!!"
    with pytest.raises(InvalidError, match="is not valid base64"):
        kubeconfig_from_secret(secret, "value")


def test_token_kubeconfigs_do_not_reload_credentials_before_each_request(
    cluster: EmulatedCluster,
) -> None:
    static = cluster.kubeconfig()
    static["users"][0]["user"] = {"token": "abc"}
    assert configuration_from_kubeconfig(static).refresh_api_key_hook is None
    expiring = yaml.safe_load(yaml.safe_dump(static))
    credential = json.dumps(
        {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": "short-lived"},
        }
    )
    expiring["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "interactiveMode": "Never",
            "command": sys.executable,
            "args": ["-c", f"print({credential!r})"],
        }
    }
    config = configuration_from_kubeconfig(expiring)
    assert config.api_key["BearerToken"] == "Bearer short-lived"
    assert config.refresh_api_key_hook is not None


async def test_a_watch_event_larger_than_a_socket_read_arrives_whole(
    client: KubeClient, cluster: EmulatedCluster
) -> None:
    start = (await client.list("v1", "ConfigMap", namespace="default")).resource_version
    big = "x" * 300_000  # a large CRD's schema is of this size
    cluster.apply(config_map("big", k=big), field_manager="test")
    async for event in client.watch("v1", "ConfigMap", resource_version=start, timeout_seconds=1):
        if event.type is not EventType.BOOKMARK:
            assert event.object["data"]["k"] == big
            break
    else:
        pytest.fail("the watch ended without the event")


def test_the_token_bucket_lets_a_burst_through_then_paces_at_qps() -> None:
    now = [0.0]
    bucket = TokenBucket(10.0, 3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [round(bucket.reserve(), 3) for _ in range(2)] == [0.1, 0.2]  # in arrival order
    now[0] = 1.0  # a second later: the two reserved tokens are paid back, the rest refilled
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert round(bucket.reserve(), 3) == 0.1
    assert TokenBucket(0.0, 1).reserve() == 0.0  # no limit


def _self_signed(directory: Path, name: str) -> str:
    """A CA certificate made for the test, base64 as a kubeconfig holds it."""
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return base64.b64encode(cert.read_bytes()).decode()


def _https_kubeconfig(server: str, ca: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }


async def test_clusters_with_the_same_ca_share_one_tls_context(tmp_path: Path) -> None:
    fleet_ca, other_ca = _self_signed(tmp_path, "fleet"), _self_signed(tmp_path, "other")
    clients = [
        AioAdapter(configuration_from_kubeconfig(_https_kubeconfig(f"https://c{i}:6443", ca)))
        for i, ca in enumerate((fleet_ca, fleet_ca, other_ca))
    ]
    contexts = [c._open_session().connector._ssl for c in clients]  # type: ignore[union-attr]
    assert contexts[0] is contexts[1]
    assert contexts[2] is not contexts[0]
    assert all(isinstance(c, ssl.SSLContext) for c in contexts)
    for client in clients:
        await client.close()


async def test_clusters_serving_the_same_kinds_share_their_parsed_discovery() -> None:
    with Fleet(simulation=False) as fleet:
        one, two, three = (fleet.add_cluster(n) for n in ("one", "two", "three"))
        three.apply(WIDGETS, field_manager="test")
        clients = [AioAdapter(configuration_from_kubeconfig(c.kubeconfig())) for c in (one, two)]
        first, second = [await c.resource_info("apps/v1", "Deployment") for c in clients]
        assert first is second and first.plural == "deployments"
        other = AioAdapter(configuration_from_kubeconfig(three.kubeconfig()))
        widget = await other.resource_info("example.com/v1", "Widget")
        assert widget.plural == "widgets"
        with pytest.raises(NotFoundError):
            await clients[0].resource_info("example.com/v1", "Widget")
        for client in (*clients, other):
            await client.close()


async def test_callers_asking_for_one_group_version_at_once_share_its_discovery_request(
    cluster: EmulatedCluster,
) -> None:
    cluster.apply(WIDGETS, field_manager="test")
    client = AioAdapter(configuration_from_kubeconfig(cluster.kubeconfig()))
    since = cluster.requests.mark()
    kinds = ["Deployment", "StatefulSet", "DaemonSet", "Deployment"] * 4
    found = await asyncio.gather(*(client.resource_info("apps/v1", k) for k in kinds))
    assert [f.kind for f in found] == kinds
    assert cluster.requests.count(since=since) == 1  # one GET /apis/apps/v1 for all sixteen
    # one caller cancelled leaves the shared fetch to the others
    since = cluster.requests.mark()
    first = asyncio.ensure_future(client.resource_info("example.com/v1", "Widget"))
    second = asyncio.ensure_future(client.resource_info("example.com/v1", "Widget"))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).plural == "widgets"
    assert first.cancelled() and cluster.requests.count(since=since) == 1
    # a kind it does not serve is still looked for anew, then refused
    with pytest.raises(NotFoundError):
        await client.resource_info("apps/v1", "Gadget")
    assert cluster.requests.count(since=since) == 2
    await client.close()


async def test_requests_reuse_connections_and_an_idle_client_lets_them_go(
    cluster: EmulatedCluster,
) -> None:
    server = cluster.server
    config = configuration_from_kubeconfig(cluster.kubeconfig(), pool_size=2)
    client = AioAdapter(config, keepalive=0.5)
    start = (await client.list("v1", "ConfigMap", namespace="default")).resource_version
    events: list[str] = []
    watch = await client.subscribe(
        "v1",
        "ConfigMap",
        resource_version=start,
        on_event=lambda e: events.append(e.object["metadata"]["name"]),
        on_end=lambda e: events.append(f"end {e}"),
    )
    accepted = server.accepted
    for i in range(4):
        await client.create(config_map(f"m{i}"))
    assert server.accepted == accepted  # one after the other, on the list's connection
    names = [f"m{i}" for i in range(4)] * 2
    got = await asyncio.gather(*(client.get("v1", "ConfigMap", n, "default") for n in names))
    assert [g["metadata"]["name"] for g in got] == names
    assert server.accepted == accepted + 1  # at most the pool's two at once
    assert server.connections == 3  # the watch and the pool's two, kept for what comes next
    # idle past the keep-alive: the pool's connections go
    await eventually(lambda: server.connections == 1, within=5, what="idle connections closed")
    await asyncio.sleep(0.6)
    assert server.connections == 1  # the watch stays open
    cluster.apply(config_map("later"), field_manager="test")
    got = [await client.get("v1", "ConfigMap", "m0", "default")]  # a new connection
    assert got[0]["metadata"]["name"] == "m0" and server.accepted == accepted + 2
    await eventually(lambda: "later" in events, within=5, what="the event", last=events)
    assert events == [*(f"m{i}" for i in range(4)), "later"]
    watch.cancel()
    await client.close()
