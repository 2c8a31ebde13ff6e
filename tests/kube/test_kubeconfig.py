"""Finding the management cluster's credentials: the order users expect, kubectl's merge of a
``$KUBECONFIG`` list, and one-line errors for every way it can fail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from function.kube.adapter import ApiAdapter
from function.kube.kubeconfig import KubeconfigError, ServiceAccount, locate, merge
from function.main import cli
from function.testing import Fleet


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as running:
        yield running


def write(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def no_pod(tmp_path: Path) -> ServiceAccount:
    return ServiceAccount({}, token_file=str(tmp_path / "none"), ca_file=str(tmp_path / "none"))


def namespaces_of(credentials: Any) -> set[str]:
    async def listed() -> set[str]:
        client = ApiAdapter(credentials.configuration)
        try:
            found = await client.list("v1", "Namespace")
        finally:
            await client.close()
        return {item["metadata"]["name"] for item in found.items}

    return asyncio.run(listed())


def test_an_explicit_file_wins_over_everything(tmp_path: Path, fleet: Fleet) -> None:
    cluster = fleet.add_cluster("mgmt")
    path = cluster.write_kubeconfig(tmp_path / "explicit")
    found = locate(
        path, environ={"KUBECONFIG": "/nowhere"}, service_account=no_pod(tmp_path), home=tmp_path
    )
    assert found.source == f"--kubeconfig {path}"
    assert found.configuration.host == cluster.url
    assert "default" in namespaces_of(found)


def test_in_cluster_comes_before_kubeconfig_files(tmp_path: Path, fleet: Fleet) -> None:
    cluster = fleet.add_cluster("mgmt")
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    account = ServiceAccount(
        {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
        token_file=str(tmp_path / "token"),
        ca_file=str(tmp_path / "ca.crt"),
    )
    listed = cluster.write_kubeconfig(tmp_path / "listed")
    found = locate(
        None, environ={"KUBECONFIG": str(listed)}, service_account=account, home=tmp_path
    )
    assert found.source == "in-cluster service account"
    assert found.configuration.host == "https://10.96.0.1:443"
    token = found.configuration.get_api_key_with_prefix("BearerToken")
    assert token.split() == ["bearer", "sa-token"]


def test_a_kubeconfig_list_is_merged_as_kubectl_merges_it(tmp_path: Path, fleet: Fleet) -> None:
    first, second = fleet.add_cluster("first"), fleet.add_cluster("second")
    # The first file names the context to use; its cluster and user come from the second.
    only_context = {
        "contexts": [{"name": "work", "context": {"cluster": "second", "user": "second-admin"}}],
        "current-context": "work",
    }
    a = write(tmp_path / "a", only_context)
    b = second.write_kubeconfig(tmp_path / "b")
    c = first.write_kubeconfig(tmp_path / "c")  # sets current-context too: the first one wins
    environ = {"KUBECONFIG": f"{a}:{tmp_path / 'missing'}:{b}:{c}"}
    found = locate(None, environ=environ, service_account=no_pod(tmp_path), home=tmp_path)
    assert found.source == f"$KUBECONFIG {a}:{b}:{c}"
    assert found.configuration.host == second.url
    assert "default" in namespaces_of(found)
    chosen = locate(
        None,
        context="first-admin@first",
        environ=environ,
        service_account=no_pod(tmp_path),
        home=tmp_path,
    )
    assert chosen.configuration.host == first.url


def test_the_first_file_to_name_an_entry_wins() -> None:
    one = {"clusters": [{"name": "x", "cluster": {"server": "https://one"}}]}
    two = {
        "clusters": [
            {"name": "x", "cluster": {"server": "https://two"}},
            {"name": "y", "cluster": {"server": "https://y"}},
        ],
        "current-context": "later",
    }
    merged = merge([(Path("/a/one"), one), (Path("/b/two"), two)])
    assert merged["clusters"] == [
        {"name": "x", "cluster": {"server": "https://one"}},
        {"name": "y", "cluster": {"server": "https://y"}},
    ]
    assert merged["current-context"] == "later"


def test_relative_files_are_read_beside_the_kubeconfig_that_names_them() -> None:
    document = {
        "clusters": [{"name": "x", "cluster": {"certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "u", "user": {"client-key": "/abs/key", "client-certificate": "u.crt"}}],
    }
    merged = merge([(Path("/home/me/.kube/config"), document)])
    assert merged["clusters"][0]["cluster"]["certificate-authority"] == "/home/me/.kube/pki/ca.crt"
    assert merged["users"][0]["user"] == {
        "client-key": "/abs/key",
        "client-certificate": "/home/me/.kube/u.crt",
    }


def test_home_is_the_last_resort(tmp_path: Path, fleet: Fleet) -> None:
    cluster = fleet.add_cluster("mgmt")
    (tmp_path / ".kube").mkdir()
    default = cluster.write_kubeconfig(tmp_path / ".kube" / "config")
    found = locate(None, environ={}, service_account=no_pod(tmp_path), home=tmp_path)
    assert found.source == str(default)
    assert found.configuration.host == cluster.url


def test_nothing_found_says_what_was_tried(tmp_path: Path) -> None:
    environ = {"KUBECONFIG": f"{tmp_path / 'gone'}"}
    with pytest.raises(KubeconfigError) as caught:
        locate(None, environ=environ, service_account=no_pod(tmp_path), home=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "no credentials for the management cluster: tried in-cluster (service host/port is not"
        f" set); $KUBECONFIG ({tmp_path / 'gone'}: no such file); {tmp_path}/.kube/config (no"
        " such file); pass --kubeconfig"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "apiVersion: v1\nkind: Config\n  bad: indent\n",
            "not valid YAML at line 3: mapping values are not allowed here",
        ),
        ("", "the file is empty"),
        ("- just\n- a list\n", "not a kubeconfig (expected a mapping)"),
        ("clusters: {x: 1}\n", "clusters must be a list"),
        ("contexts: [{context: {}}]\n", "an entry of contexts has no name"),
        ("clusters: []\n", "no current-context set and no --context given"),
        ("current-context: gone\n", "context 'gone' not found"),
        (
            "contexts: [{name: c, context: {cluster: nowhere, user: u}}]\ncurrent-context: c\n",
            "name nowhere in kube-config/clusters list",
        ),
    ],
)
def test_a_malformed_kubeconfig_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(KubeconfigError) as caught:
        locate(path, service_account=no_pod(tmp_path), home=tmp_path)
    assert str(caught.value).startswith(f"kubeconfig {path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_cli_reports_a_bad_kubeconfig_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\n  bad: indent\n")
    outcome = CliRunner().invoke(cli, ["reconcile", "--kubeconfig", str(path)])
    assert outcome.exit_code == 1
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    assert outcome.output == (
        f"Error: kubeconfig {path}: not valid YAML at line 3: mapping values are not allowed here\n"
    )


def test_the_cli_without_any_credentials_says_what_it_tried(tmp_path: Path) -> None:
    environ = {"KUBECONFIG": None, "KUBERNETES_SERVICE_HOST": None, "HOME": str(tmp_path)}
    outcome = CliRunner(env=environ).invoke(cli, ["reconcile", "--probe-address", ""])
    assert outcome.exit_code == 1
    assert outcome.output.startswith("Error: no credentials for the management cluster: tried ")
    assert "$KUBECONFIG (not set)" in outcome.output
    assert outcome.output.count("\n") == 1


def test_version_is_the_installed_distributions() -> None:
    outcome = CliRunner().invoke(cli, ["--version"])
    assert outcome.exit_code == 0
    assert outcome.output == f"aifleet, version {metadata.version('function-aifleet')}\n"
