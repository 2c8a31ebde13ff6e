"""Discovery and CRDs: built-in groups, CRD kinds becoming servable, multi-version CRDs."""

from __future__ import annotations

import pytest
from kubernetes import client, dynamic
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from function.testing import EmulatedCluster

from .conftest import widget_crd


def test_core_and_group_discovery(api: ApiClient) -> None:
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    resources = client.AppsV1Api(api).get_api_resources()
    names = {r.name: r for r in resources.resources}
    assert names["deployments"].namespaced and names["deployments"].kind == "Deployment"
    assert "deployments/status" in names
    nodes = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}["nodes"]
    assert not nodes.namespaced


def test_registering_a_crd_makes_its_kind_servable(
    cluster: EmulatedCluster, api: ApiClient, dyn: dynamic.DynamicClient
) -> None:
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as error:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert error.value.status == 404
    client.ApiextensionsV1Api(api).create_custom_resource_definition(widget_crd())
    groups = [g.name for g in client.ApisApi(api).get_api_versions().groups]
    assert "example.com" in groups
    widgets = dyn.resources.get(api_version="example.com/v1", kind="Widget")
    created = widgets.create(
        body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        namespace="default",
    )
    assert created.metadata.generation == 1
    listed = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert listed["kind"] == "WidgetList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w"]


def test_multi_version_crd_serves_one_object_under_every_version(
    cluster: EmulatedCluster, api: ApiClient
) -> None:
    cluster.create(widget_crd(versions=("v1beta1", "v1")))
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "example.com",
        "v1beta1",
        "default",
        "widgets",
        {"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    as_v1 = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert as_v1["apiVersion"] == "example.com/v1"
    group = client.ApisApi(api).get_api_versions().groups
    preferred = {g.name: g.preferred_version.version for g in group}["example.com"]
    assert preferred == "v1"


def test_deleting_a_crd_removes_its_objects_and_kind(
    cluster: EmulatedCluster, api: ApiClient
) -> None:
    cluster.create(widget_crd())
    cluster.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("widgets.example.com")
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as error:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert error.value.status == 404


def test_crd_without_status_subresource_keeps_status_in_the_main_resource(
    cluster: EmulatedCluster, api: ApiClient
) -> None:
    cluster.create(widget_crd(status=False))
    custom = client.CustomObjectsApi(api)
    created = custom.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "status": {"phase": "Seeded"},
        },
    )
    assert created["status"] == {"phase": "Seeded"}
    with pytest.raises(ApiException) as error:
        custom.get_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w")
    assert error.value.status == 404


def test_unknown_paths_are_404(api: ApiClient) -> None:
    response = api.call_api("GET", f"{api.configuration.host}/apis/nothing.example.com/v1")
    response.read()
    assert response.status == 404
