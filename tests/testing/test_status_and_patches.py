"""The status subresource, merge / JSON / strategic merge patches, and selectors."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from function.testing import EmulatedCluster

from .conftest import config_map, deployment, widget_crd


def test_main_resource_ignores_status_and_status_ignores_spec(apps: client.AppsV1Api) -> None:
    web = deployment("web", replicas=2)
    web["status"] = {"replicas": 5}
    created = apps.create_namespaced_deployment("default", web)
    assert created.status is None or created.status.replicas is None
    status = apps.patch_namespaced_deployment_status(
        "web", "default", {"spec": {"replicas": 9}, "status": {"readyReplicas": 2}}
    )
    assert status.spec.replicas == 2 and status.status.ready_replicas == 2
    assert status.metadata.generation == 1
    main = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"replicas": 3}, "status": {"readyReplicas": 0}}
    )
    assert main.spec.replicas == 3 and main.status.ready_replicas == 2


def test_custom_resource_status_isolation(cluster: EmulatedCluster, api: ApiClient) -> None:
    cluster.create(widget_crd())
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1},
            "status": {"ignored": True},
        },
    )
    patched = custom.patch_namespaced_custom_object_status(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 9}, "status": {"phase": "Ready"}},
    )
    assert patched["spec"] == {"size": 1}
    assert patched["status"] == {"phase": "Ready"}
    assert patched["metadata"]["generation"] == 1


def test_status_writes_with_a_stale_resource_version_are_409_conflict(
    cluster: EmulatedCluster, api: ApiClient
) -> None:
    cluster.create(widget_crd())
    custom = client.CustomObjectsApi(api)
    args = ("example.com", "v1", "default", "widgets")
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    created = custom.create_namespaced_custom_object(*args, {**body, "spec": {"size": 1}})
    seen = created["metadata"]["resourceVersion"]
    moved = custom.patch_namespaced_custom_object_status(
        *args, "w", {"metadata": {"resourceVersion": seen}, "status": {"phase": "A"}}
    )
    assert moved["metadata"]["resourceVersion"] != seen
    # A merge patch of /status and a PUT of /status, each still at the first version.
    for write in (
        lambda: custom.patch_namespaced_custom_object_status(
            *args, "w", {"metadata": {"resourceVersion": seen}, "status": {"phase": "B"}}
        ),
        lambda: custom.replace_namespaced_custom_object_status(
            *args,
            "w",
            {**body, "metadata": {"name": "w", "resourceVersion": seen}, "status": {"phase": "B"}},
        ),
    ):
        with pytest.raises(ApiException) as error:
            write()
        assert error.value.status == 409
        status = json.loads(error.value.body)
        assert (status["kind"], status["status"], status["reason"]) == (
            "Status",
            "Failure",
            "Conflict",
        )
        assert "the object has been modified" in status["message"]
    assert cluster.get("example.com/v1", "Widget", "w", "default")["status"] == {"phase": "A"}
    codes = [r.code for r in cluster.requests.filter(kind="Widget", subresource="status")]
    assert codes == [200, 409, 409]


def test_merge_patch_removes_keys_with_null(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    cluster.create(config_map("cfg", {"a": "1", "b": "2"}))
    patched = cluster.patch(
        "v1",
        "ConfigMap",
        "cfg",
        {"data": {"a": None, "c": "3"}},
        namespace="default",
        patch_type="merge",
    )
    assert patched["data"] == {"b": "2", "c": "3"}
    assert core.read_namespaced_config_map("cfg", "default").data == {"b": "2", "c": "3"}


def test_json_patch_and_failed_test_operation(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", config_map("cfg", {"a": "1"}))
    patched = core.patch_namespaced_config_map(
        "cfg",
        "default",
        [{"op": "add", "path": "/data/b", "value": "2"}],
        _content_type="application/json-patch+json",
    )
    assert patched.data == {"a": "1", "b": "2"}
    with pytest.raises(ApiException) as error:
        core.patch_namespaced_config_map(
            "cfg",
            "default",
            [{"op": "test", "path": "/data/a", "value": "other"}],
            _content_type="application/json-patch+json",
        )
    assert error.value.status == 422


def test_strategic_merge_patch_merges_containers_by_name(apps: client.AppsV1Api) -> None:
    web = deployment("web")
    web["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s:1"})
    apps.create_namespaced_deployment("default", web)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "s:2"},
                        {"name": "app", "$patch": "delete"},
                        {"name": "extra", "image": "e:1"},
                    ]
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("web", "default", patch)
    containers = [(c.name, c.image) for c in patched.spec.template.spec.containers]
    assert containers == [("sidecar", "s:2"), ("extra", "e:1")]


def test_strategic_merge_patch_is_refused_for_custom_resources(
    cluster: EmulatedCluster, api: ApiClient
) -> None:
    cluster.create(widget_crd())
    cluster.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    url = f"{api.configuration.host}/apis/example.com/v1/namespaces/default/widgets/w"
    headers = {"Content-Type": "application/strategic-merge-patch+json"}
    response = api.call_api("PATCH", url, header_params=headers, body={"spec": {}})
    response.read()
    assert response.status == 415


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web,env!=prod", ["a"]),
        ("tier in (web,db)", ["a", "b", "c"]),
        ("tier notin (web)", ["c", "d"]),
        ("env", ["a", "b"]),
        ("!env", ["c", "d"]),
    ],
)
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    labels = {
        "a": {"tier": "web", "env": "dev"},
        "b": {"tier": "web", "env": "prod"},
        "c": {"tier": "db"},
        "d": {},
    }
    for name, value in labels.items():
        core.create_namespaced_config_map("default", config_map(name, labels=value))
    found = core.list_namespaced_config_map("default", label_selector=selector)
    assert [c.metadata.name for c in found.items] == expected


def test_field_selectors(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    for namespace in ("default", "other"):
        core.create_namespaced_config_map(namespace, config_map("same"))
    core.create_namespaced_config_map("default", config_map("different"))
    by_name = core.list_config_map_for_all_namespaces(field_selector="metadata.name=same")
    assert [c.metadata.namespace for c in by_name.items] == ["default", "other"]
    by_namespace = core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace!=default"
    )
    assert [c.metadata.name for c in by_namespace.items] == ["same"]
    secrets = core.list_namespaced_secret("default", field_selector="type=Opaque")
    assert secrets.items == []


@pytest.mark.parametrize(
    ("label_selector", "field_selector"),
    [("tier in (web", None), ("=web", None), (None, "spec.unknown=x"), (None, "metadata.name")],
)
def test_malformed_selectors_are_400(
    core: client.CoreV1Api, label_selector: str | None, field_selector: str | None
) -> None:
    with pytest.raises(ApiException) as error:
        core.list_namespaced_config_map(
            "default", label_selector=label_selector, field_selector=field_selector
        )
    assert error.value.status == 400
