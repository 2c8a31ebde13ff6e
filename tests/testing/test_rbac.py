"""Deny-by-default RBAC: service account tokens, Roles and ClusterRoles with their bindings,
aggregation, resourceNames and subresources, through the real client, with kube-apiserver's
403 and 401 `Status` bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from function.testing import EmulatedCluster

from .conftest import config_map

SA = "crossplane-system/robot"
USER = "system:serviceaccount:crossplane-system:robot"
RBAC = "rbac.authorization.k8s.io/v1"
SUBJECT = {"kind": "ServiceAccount", "name": "robot", "namespace": "crossplane-system"}


@pytest.fixture
def robot(cluster: EmulatedCluster) -> Iterator[client.CoreV1Api]:
    """The core API as the service account, RBAC on."""
    cluster.enable_rbac()
    for namespace in ("team-a", "team-b", "crossplane-system"):
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    with config.new_client_from_config_dict(cluster.kubeconfig(service_account=SA)) as api:
        yield client.CoreV1Api(api)


def refusal(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as error:
        call(*args, **kwargs)
    return error.value.status, json.loads(error.value.body)


def get(api: ApiClient, path: str) -> tuple[int, dict[str, Any]]:
    """GET a path with the client's credentials; status and JSON body."""
    url = f"{api.configuration.host}{path}"
    headers = {"Accept": "application/json"}
    api.update_params_for_auth(headers, [], ["BearerToken"], "", "GET", None)
    response = api.call_api("GET", url, header_params=headers)
    response.read()
    return response.status, json.loads(response.data)


def role(kind: str, name: str, rules: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "rules": rules,
    }


def binding(kind: str, name: str, role_kind: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [SUBJECT],
    }


def test_nothing_is_allowed_without_a_binding(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    code, body = refusal(robot.list_secret_for_all_namespaces)
    assert code == 403
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'secrets is forbidden: User "{USER}" cannot list resource "secrets" '
        'in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "secrets"},
        "code": 403,
    }
    code, body = refusal(robot.read_namespaced_secret, "kubeconfig", "team-a")
    assert body["message"] == (
        f'secrets "kubeconfig" is forbidden: User "{USER}" cannot get resource "secrets" '
        'in API group "" in the namespace "team-a"'
    )
    assert body["details"] == {"kind": "secrets", "name": "kubeconfig"}
    assert [d.attributes.verb for d in cluster.rbac_denials] == ["list", "get"]
    assert cluster.requests.filter(code=403)  # logged like any answered request


def test_a_role_binding_grants_in_its_namespace_only(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    cluster.create(config_map("settings", namespace="team-a"))
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    cluster.create(role("Role", "reader", rules, namespace="team-a"))
    cluster.create(binding("RoleBinding", "reader", "Role", namespace="team-a"))
    assert robot.read_namespaced_config_map("settings", "team-a").data == {}
    assert [c.metadata.name for c in robot.list_namespaced_config_map("team-a").items] == [
        "settings"
    ]
    assert refusal(robot.list_namespaced_config_map, "team-b")[0] == 403
    assert refusal(robot.list_config_map_for_all_namespaces)[0] == 403  # cluster-wide list
    assert refusal(robot.delete_namespaced_config_map, "settings", "team-a")[0] == 403


def test_a_role_binding_to_a_cluster_role_grants_its_rules_in_one_namespace(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    cluster.create(role("ClusterRole", "secrets", rules))
    cluster.create(binding("RoleBinding", "secrets", "ClusterRole", namespace="team-a"))
    assert robot.list_namespaced_secret("team-a").items == []
    assert refusal(robot.list_namespaced_secret, "team-b")[0] == 403
    cluster.create(binding("ClusterRoleBinding", "secrets", "ClusterRole"))
    assert robot.list_namespaced_secret("team-b").items == []  # the policy follows at once
    assert robot.list_secret_for_all_namespaces().items == []


def test_aggregated_cluster_roles_resource_names_and_subresources(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    cluster.create(config_map("allowed", namespace="team-a"))
    cluster.create(config_map("other", namespace="team-a"))
    aggregate = role("ClusterRole", "aggregate", [])
    aggregate["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}
    cluster.create(aggregate)
    cluster.create(binding("ClusterRoleBinding", "aggregate", "ClusterRole"))
    assert refusal(robot.read_namespaced_config_map, "allowed", "team-a")[0] == 403
    named = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["allowed"],
            "verbs": ["get"],
        },
        {"apiGroups": [""], "resources": ["namespaces/status"], "verbs": ["get"]},
    ]
    cluster.create(role("ClusterRole", "part", named, labels={"agg": "yes"}))
    assert robot.read_namespaced_config_map("allowed", "team-a").metadata.name == "allowed"
    assert refusal(robot.read_namespaced_config_map, "other", "team-a")[0] == 403
    assert robot.read_namespace_status("team-a").metadata.name == "team-a"
    _, body = refusal(robot.read_namespace, "team-a")  # the subresource only
    assert body["message"].endswith(
        'cannot get resource "namespaces" in API group "" in the namespace "team-a"'
    )


def test_forbidden_comes_before_not_found_and_discovery_is_open(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    api = robot.api_client
    code, body = get(api, "/apis/example.com/v1/widgets")
    assert code == 403  # the kind is not served, but the request is refused first
    assert body["details"] == {"kind": "widgets", "group": "example.com"}
    assert body["message"].startswith("widgets.example.com is forbidden: ")
    rules = [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list"]}]
    cluster.create(role("ClusterRole", "widgets", rules))
    cluster.create(binding("ClusterRoleBinding", "widgets", "ClusterRole"))
    assert get(api, "/apis/example.com/v1/widgets")[0] == 404
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]  # discovery
    assert client.VersionApi(api).get_code().git_version


def test_tokens_anonymous_and_admin(cluster: EmulatedCluster, robot: client.CoreV1Api) -> None:
    bad = cluster.kubeconfig()
    bad["users"][0]["user"]["token"] = "forged"
    with config.new_client_from_config_dict(bad) as api:
        code, body = refusal(client.CoreV1Api(api).list_namespace)
    assert (code, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")
    anonymous = cluster.kubeconfig()
    del anonymous["users"][0]["user"]["token"]
    with config.new_client_from_config_dict(anonymous) as api:
        code, body = refusal(client.CoreApi(api).get_api_versions)
    assert body["message"] == 'forbidden: User "system:anonymous" cannot get path "/api/"'
    assert body["details"] == {}
    with cluster.api_client() as admin:  # system:masters is never refused
        assert client.CoreV1Api(admin).list_secret_for_all_namespaces().items == []


def test_the_watch_of_one_object_is_authorized_by_its_name(
    cluster: EmulatedCluster, robot: client.CoreV1Api
) -> None:
    rules = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["watched"],
            "verbs": ["list", "watch"],
        }
    ]
    cluster.create(role("Role", "one", rules, namespace="team-a"))
    cluster.create(binding("RoleBinding", "one", "Role", namespace="team-a"))
    listed = robot.list_namespaced_config_map("team-a", field_selector="metadata.name=watched")
    assert listed.items == []
    assert refusal(robot.list_namespaced_config_map, "team-a")[0] == 403


def test_rbac_off_accepts_any_credentials(cluster: EmulatedCluster) -> None:
    with config.new_client_from_config_dict(cluster.kubeconfig(service_account=SA)) as api:
        assert isinstance(api, ApiClient)
        assert client.CoreV1Api(api).list_secret_for_all_namespaces().items == []
