"""CRUD through the real client: status codes, metadata, resourceVersion, namespaces, deletion."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from function.errors import ConflictError, NotFoundError
from function.testing import EmulatedCluster

from .conftest import config_map, deployment


def test_create_returns_201_with_server_metadata(core: client.CoreV1Api) -> None:
    created, status, _ = core.create_namespaced_config_map_with_http_info(
        "default", config_map("settings", {"a": "1"})
    )
    assert status == 201
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.namespace == "default"
    assert created.metadata.generation is None  # ConfigMaps do not track generation
    assert core.read_namespaced_config_map("settings", "default").data == {"a": "1"}


def test_create_existing_name_is_409_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", config_map("twice"))
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", config_map("twice"))
    assert error.value.status == 409
    assert '"reason":"AlreadyExists"' in error.value.body


def test_get_missing_is_404_with_status_body(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        core.read_namespaced_config_map("absent", "default")
    assert error.value.status == 404
    assert 'configmaps \\"absent\\" not found' in error.value.body


def test_list_carries_kind_api_version_and_resource_version(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name in ("b", "a"):
        core.create_namespaced_config_map("default", config_map(name))
    raw = api.call_api("GET", f"{api.configuration.host}/api/v1/namespaces/default/configmaps")
    raw.read()
    body = raw.data.decode()
    assert '"kind":"ConfigMapList"' in body and '"apiVersion":"v1"' in body
    listed = core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in listed.items] == ["a", "b"]
    assert int(listed.metadata.resource_version) >= int(listed.items[1].metadata.resource_version)


def test_resource_versions_increase_and_stale_update_is_409(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("default", config_map("rv", {"n": "1"}))
    first.data = {"n": "2"}
    second = core.replace_namespaced_config_map("rv", "default", first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.data = {"n": "3"}  # still carries the first resourceVersion
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("rv", "default", first)
    assert error.value.status == 409
    assert "the object has been modified" in error.value.body
    assert core.read_namespaced_config_map("rv", "default").data == {"n": "2"}


def test_update_without_changes_keeps_resource_version(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", config_map("same", {"k": "v"}))
    replaced = core.replace_namespaced_config_map("same", "default", created)
    assert replaced.metadata.resource_version == created.metadata.resource_version


def test_generation_moves_on_spec_changes_only(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment("default", deployment("web"))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"team": "a"}}}
    )
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


def test_generate_name_creates_unique_names(core: client.CoreV1Api) -> None:
    body = {"metadata": {"generateName": "job-"}, "data": {}}
    names = {core.create_namespaced_config_map("default", body).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("job-") and len(name) == len("job-") + 5 for name in names)


def test_invalid_name_is_422(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", config_map("Not_Valid"))
    assert error.value.status == 422
    assert '"reason":"Invalid"' in error.value.body


def test_cluster_scoped_kinds_and_namespaces(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team-a"}})
    created = core.read_namespace("team-a")
    assert created.status.phase == "Active"
    assert created.metadata.namespace is None
    core.create_namespaced_config_map("team-a", config_map("inside"))
    everywhere = core.list_config_map_for_all_namespaces()
    assert ("team-a", "inside") in {
        (c.metadata.namespace, c.metadata.name) for c in everywhere.items
    }


def test_content_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("nowhere", config_map("x"))
    assert error.value.status == 404
    assert 'namespaces \\"nowhere\\" not found' in error.value.body


def test_deleting_a_namespace_deletes_its_content(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", config_map("plain"))
    core.create_namespaced_config_map("doomed", config_map("held", finalizers=["example.com/hold"]))
    core.delete_namespace("doomed")
    assert core.read_namespace("doomed").status.phase == "Terminating"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("doomed", config_map("late"))
    assert refused.value.status == 403
    assert [c.metadata.name for c in core.list_namespaced_config_map("doomed").items] == ["held"]
    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
    cluster.wait_gone("v1", "Namespace", "doomed")


def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", config_map("held", finalizers=["example.com/x"]))
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as error:
        core.patch_namespaced_config_map(
            "held", "default", {"metadata": {"finalizers": ["example.com/x", "example.com/y"]}}
        )
    assert error.value.status == 422
    # a strategic merge patch unions finalizers ([] removes nothing); null removes them
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": []}})
    assert core.read_namespaced_config_map("held", "default").metadata.finalizers == [
        "example.com/x"
    ]
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", "default")
    assert gone.value.status == 404


def test_delete_returns_status_and_preconditions_are_checked(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", config_map("pre"))
    with pytest.raises(ApiException) as error:
        core.delete_namespaced_config_map(
            "pre", "default", body=client.V1DeleteOptions(preconditions={"uid": "other"})
        )
    assert error.value.status == 409
    status = core.delete_namespaced_config_map(
        "pre", "default", body={"preconditions": {"uid": created.metadata.uid}}
    )
    assert status["status"] == "Success"  # the client returns the Status (or object) as a dict


def test_delete_collection_honours_selectors(core: client.CoreV1Api) -> None:
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map("default", config_map(name, labels={"tier": tier}))
    core.delete_collection_namespaced_config_map("default", label_selector="tier=web")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]


def test_owner_references_cascade_on_delete(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    owner = core.create_namespaced_config_map("default", config_map("owner"))
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map("default", config_map("child", ownerReferences=[reference]))
    core.create_namespaced_config_map(
        "default", config_map("orphan-candidate", ownerReferences=[reference])
    )
    core.delete_namespaced_config_map("owner", "default")
    assert cluster.find("v1", "ConfigMap", "child", "default") is None
    assert cluster.find("v1", "ConfigMap", "orphan-candidate", "default") is None


def test_orphan_propagation_keeps_dependents(
    core: client.CoreV1Api, cluster: EmulatedCluster
) -> None:
    owner = core.create_namespaced_config_map("default", config_map("owner"))
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map("default", config_map("child", ownerReferences=[reference]))
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    child = cluster.get("v1", "ConfigMap", "child", "default")
    assert "ownerReferences" not in child["metadata"]


def test_dry_run_writes_nothing(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    before = cluster.resource_version
    core.create_namespaced_config_map("default", config_map("dry"), dry_run="All")
    assert cluster.find("v1", "ConfigMap", "dry", "default") is None
    assert cluster.resource_version == before


def test_pagination_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for index in range(5):
        core.create_namespaced_config_map("default", config_map(f"item-{index}"))
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["item-0", "item-1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["item-2", "item-3", "item-4"]
    assert rest.metadata._continue is None


def test_helpers_raise_project_errors(cluster: EmulatedCluster) -> None:
    with pytest.raises(NotFoundError):
        cluster.get("v1", "ConfigMap", "nothing", "default")
    cluster.create(config_map("once"))
    with pytest.raises(ConflictError) as error:
        cluster.create(config_map("once"))
    assert error.value.status == 409 and error.value.reason == "AlreadyExists"


def test_helpers_and_http_share_one_store(core: client.CoreV1Api, cluster: EmulatedCluster) -> None:
    cluster.create(config_map("seeded", {"k": "v"}))
    read = core.read_namespaced_config_map("seeded", "default")
    assert read.data == {"k": "v"}
    core.patch_namespaced_config_map("seeded", "default", {"data": {"k": "w"}})
    assert cluster.get("v1", "ConfigMap", "seeded", "default")["data"] == {"k": "w"}


def test_create_with_a_resource_version_is_refused(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("default", config_map("x", resourceVersion="12"))
    assert error.value.status == 500
    assert "resourceVersion should not be set" in error.value.body


def test_secret_string_data_is_folded_into_data(cluster: EmulatedCluster) -> None:
    api = client.CoreV1Api(cluster.api_client())
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"a": "eA=="},
        "stringData": {"b": "two"},
    }
    created = api.create_namespaced_secret("default", body)
    assert created.data == {"a": "eA==", "b": "dHdv"}
    assert created.string_data is None
    assert cluster.get("v1", "Secret", "s", "default").get("stringData") is None
