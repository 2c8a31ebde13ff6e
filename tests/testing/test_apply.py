"""Server-side apply through the real client: ownership, removal, conflicts, force, lists."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client import ApiClient

from function.testing import EmulatedCluster

from .conftest import APPLY, config_map, deployment, server_side_apply, widget_crd

CM_PATH = "/api/v1/namespaces/default/configmaps"
DEPLOY_PATH = "/apis/apps/v1/namespaces/default/deployments"


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """managedFields by manager."""
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


def test_apply_creates_with_201_and_records_the_applier(api: ApiClient) -> None:
    status, created = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="team"
    )
    assert status == 201
    entry = entries(created)["team"]
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_noop_apply_changes_nothing(api: ApiClient, cluster: EmulatedCluster) -> None:
    _, first = server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="m")
    mark = cluster.writes.mark()
    status, second = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="m"
    )
    assert status == 200
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert cluster.writes.filter(since=mark) == []


def test_fields_a_manager_stops_applying_are_removed(api: ApiClient) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1", "b": "2"}), manager="m")
    _, applied = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="m"
    )
    assert applied["data"] == {"a": "1"}
    assert entries(applied)["m"]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_fields_another_manager_also_owns_are_kept(api: ApiClient) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1", "b": "2"}), manager="m1")
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"b": "2"}), manager="m2")
    _, applied = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="m1"
    )
    assert applied["data"] == {"a": "1", "b": "2"}
    assert entries(applied)["m2"]["fieldsV1"] == {"f:data": {"f:b": {}}}


def test_conflicting_apply_is_409_naming_fields_and_managers(api: ApiClient) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="owner")
    status, body = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "2"}), manager="intruder"
    )
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "owner": .data.a'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "owner"', "field": ".data.a"}
    ]


def test_force_takes_ownership(api: ApiClient) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="owner")
    status, forced = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "2"}), manager="intruder", force=True
    )
    assert status == 200
    assert forced["data"] == {"a": "2"}
    assert set(entries(forced)) == {"intruder"}  # the owner lost its only field


def test_update_managers_conflict_with_appliers(core: client.CoreV1Api, api: ApiClient) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="gitops")
    core.patch_namespaced_config_map("cfg", "default", {"data": {"a": "edited"}})
    edited = core.read_namespaced_config_map("cfg", "default")
    managers = {(e.manager, e.operation) for e in edited.metadata.managed_fields}
    assert ("OpenAPI-Generator", "Update") in managers
    status, body = server_side_apply(
        api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="gitops"
    )
    assert status == 409
    assert 'conflict with "OpenAPI-Generator" using v1: .data.a' in body["message"]


def test_keyed_lists_merge_by_key(api: ApiClient) -> None:
    web = deployment("web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}]
    container["ports"] = [{"containerPort": 8080}]
    server_side_apply(api, f"{DEPLOY_PATH}/web", web, manager="app-team")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "env": [{"name": "B", "value": "2"}]},
                        {"name": "proxy", "image": "envoy"},
                    ]
                }
            }
        },
    }
    status, merged = server_side_apply(api, f"{DEPLOY_PATH}/web", sidecar, manager="mesh")
    assert status == 200
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "proxy"]
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    app_fields = entries(merged)["app-team"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    item = app_fields["f:containers"]['k:{"name":"app"}']
    assert item["."] == {} and "f:image" in item
    assert 'k:{"containerPort":8080,"protocol":"TCP"}' in item["f:ports"]
    assert 'k:{"name":"A"}' in item["f:env"]


def test_atomic_lists_are_owned_whole(api: ApiClient) -> None:
    web = deployment("web")
    pod = web["spec"]["template"]["spec"]
    pod["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    server_side_apply(api, f"{DEPLOY_PATH}/web", web, manager="first")
    other = copy.deepcopy(web)
    other["spec"]["template"]["spec"]["tolerations"] = [{"key": "edge", "operator": "Exists"}]
    status, body = server_side_apply(api, f"{DEPLOY_PATH}/web", other, manager="second")
    assert status == 409
    assert ".spec.template.spec.tolerations" in body["message"]
    _, forced = server_side_apply(api, f"{DEPLOY_PATH}/web", other, manager="second", force=True)
    assert forced["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "edge", "operator": "Exists"}
    ]


def test_removing_an_item_removes_only_that_item(api: ApiClient) -> None:
    web = deployment("web")
    web["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s"})
    server_side_apply(api, f"{DEPLOY_PATH}/web", web, manager="m")
    web["spec"]["template"]["spec"]["containers"].pop()
    _, applied = server_side_apply(api, f"{DEPLOY_PATH}/web", web, manager="m")
    assert [c["name"] for c in applied["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_conditions_merge_by_type_on_status(api: ApiClient, cluster: EmulatedCluster) -> None:
    cluster.create(widget_crd())
    path = "/apis/example.com/v1/namespaces/default/widgets/w"
    server_side_apply(
        api,
        path,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}},
        manager="user",
    )
    ready = {"type": "Ready", "status": "True", "reason": "R", "message": ""}
    synced = {"type": "Synced", "status": "True", "reason": "S", "message": ""}
    for manager, condition in (("a", ready), ("b", synced)):
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "status": {"conditions": [condition]},
        }
        status, _ = server_side_apply(api, path + "/status", body, manager=manager)
        assert status == 200
    widget = cluster.get("example.com/v1", "Widget", "w", "default")
    assert [c["type"] for c in widget["status"]["conditions"]] == ["Ready", "Synced"]
    assert entries(widget)["a"]["subresource"] == "status"


def test_field_manager_is_required(api: ApiClient) -> None:
    status, body = server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg"), manager=None)
    assert status == 400
    assert "fieldManager is required" in body["message"]


def test_apply_with_stale_resource_version_is_409(api: ApiClient) -> None:
    _, first = server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "1"}), manager="m")
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", {"a": "2"}), manager="m")
    stale = config_map("cfg", {"a": "3"}, resourceVersion=first["metadata"]["resourceVersion"])
    status, body = server_side_apply(api, f"{CM_PATH}/cfg", stale, manager="m")
    assert status == 409 and "the object has been modified" in body["message"]


def test_typed_and_dynamic_clients_apply(
    core: client.CoreV1Api, dyn: dynamic.DynamicClient
) -> None:
    typed = core.patch_namespaced_config_map(
        "typed",
        "default",
        config_map("typed", {"k": "v"}),
        field_manager="typed",
        _content_type=APPLY,
    )
    assert typed.data == {"k": "v"}
    config_maps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    applied = config_maps.server_side_apply(
        body=config_map("dynamic", {"k": "v"}), namespace="default", field_manager="dyn"
    )
    assert applied.metadata.managedFields[0].manager == "dyn"


def test_apply_status_does_not_touch_spec_and_vice_versa(
    api: ApiClient, cluster: EmulatedCluster
) -> None:
    web = deployment("web", replicas=2)
    web["status"] = {"replicas": 99}
    _, created = server_side_apply(api, f"{DEPLOY_PATH}/web", web, manager="m")
    assert "status" not in created
    status_only = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 7},
        "status": {"replicas": 2},
    }
    _, updated = server_side_apply(api, f"{DEPLOY_PATH}/web/status", status_only, manager="ctl")
    assert updated["spec"]["replicas"] == 2
    assert updated["status"] == {"replicas": 2}


@pytest.mark.parametrize("value", [{"a": "1"}, {"a": "1", "b": "2"}])
def test_reapplying_keeps_the_write_log_quiet(
    api: ApiClient, cluster: EmulatedCluster, value: dict[str, str]
) -> None:
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", value), manager="m")
    server_side_apply(api, f"{CM_PATH}/cfg", config_map("cfg", value), manager="m")
    assert cluster.writes.count(kind="ConfigMap", verb="apply") == 1
