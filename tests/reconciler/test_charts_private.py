"""Charts from private repositories: an htpasswd-protected OCI registry and an HTTPS
repository with its own CA, reached with what an add-on's credentials Secret holds."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PrivateRegistry

from function.errors import ChartAccess, ChartAccessError
from function.model.bundle import HelmSource
from function.reconciler.chartaccess import RepositoryAccess, access_from_secret
from function.reconciler.chartdigest import file_digest
from function.reconciler.charts import ChartFetcher
from tests.reconciler.private_repos import USERNAME, Tls, TlsChartRepo


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def secret(**data: str | bytes) -> dict[str, Any]:
    """A Secret object whose ``data`` holds ``data`` (keys with dots spelled with _dot_)."""
    return {"data": {k.replace("_dot_", "."): b64(v) for k, v in data.items()}}


def source(repository: str, **extra: Any) -> HelmSource:
    return HelmSource.model_validate(
        {
            "repository": repository,
            "chart": "node-feature-discovery",
            "version": "0.19.0",
            "credentialsSecretRef": {"name": "chart-creds"},
            **extra,
        }
    )


def access(src: HelmSource, obj: dict[str, Any] | None) -> RepositoryAccess:
    got = access_from_secret("nfd", src, "team-a", obj)
    assert got is not None
    return got


def fetch(tmp_path: Path, src: HelmSource, acc: RepositoryAccess | None) -> str:
    """Fetch with a fresh cache; the digest. No file of the credentials outlives the fetch."""
    fetcher = ChartFetcher(tmp_path / "cache")
    try:
        return fetcher.fetch(src, addon="nfd", access=acc).digest
    finally:
        assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def failure(tmp_path: Path, src: HelmSource, acc: RepositoryAccess | None) -> ChartAccessError:
    with pytest.raises(ChartAccessError) as caught:
        fetch(tmp_path, src, acc)
    assert not caught.value.transient
    return caught.value


# --- OCI registry with htpasswd auth -------------------------------------------------------


def test_oci_basic_auth_from_username_and_password(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    src = source(private_registry.url)
    acc = access(src, secret(username=USERNAME, password=private_registry.password))
    digest = fetch(tmp_path, src, acc)
    archive = next((tmp_path / "cache" / "charts" / "sha256").iterdir())
    assert digest == file_digest(archive)


def test_oci_registry_config_from_a_dockerconfigjson_secret(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    config = {
        "auths": {private_registry.host: {"auth": b64(f"{USERNAME}:{private_registry.password}")}}
    }
    src = source(private_registry.url)
    acc = access(src, secret(_dot_dockerconfigjson=json.dumps(config)))
    assert fetch(tmp_path, src, acc).startswith("sha256:")


def test_oci_wrong_password_is_refused_without_echoing_it(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    src = source(private_registry.url)
    wrong = "not-the-" + private_registry.password
    error = failure(tmp_path, src, access(src, secret(username=USERNAME, password=wrong)))
    assert error.cause is ChartAccess.REFUSED
    assert "the repository refused the credentials of Secret team-a/chart-creds" in str(error)
    assert str(error).startswith("add-on 'nfd', chart node-feature-discovery:0.19.0")
    assert wrong not in str(error) and private_registry.password not in str(error)
    assert b64(f"{USERNAME}:{wrong}") not in str(error)


def test_oci_without_credentials_says_the_registry_asks_for_them(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    src = HelmSource(
        repository=private_registry.url, chart="node-feature-discovery", version="0.19.0"
    )
    error = failure(tmp_path, src, None)
    assert error.cause is ChartAccess.REFUSED
    assert "asks for credentials (set helm.credentialsSecretRef)" in error.reason


def test_a_chart_cached_for_one_secret_is_not_served_to_another(
    private_registry: PrivateRegistry, tmp_path: Path
) -> None:
    src = source(private_registry.url)
    fetcher = ChartFetcher(tmp_path / "cache")
    good = access(src, secret(username=USERNAME, password=private_registry.password))
    fetcher.fetch(src, addon="nfd", access=good)
    assert fetcher.cached(src, good) is not None
    other = access_from_secret("nfd", src, "team-b", secret(username=USERNAME, password="guessed"))
    assert fetcher.cached(src, other) is None
    with pytest.raises(ChartAccessError):
        fetcher.fetch(src, addon="nfd", access=other)
    with pytest.raises(ChartAccessError):
        fetcher.fetch(src.model_copy(update={"credentials_secret_ref": None}), addon="nfd")


# --- OCI registry over TLS ----------------------------------------------------------------


def test_oci_over_tls_with_the_ca_bundle_or_insecure_skip_tls_verify(
    private_tls_registry: tuple[PrivateRegistry, Tls], tmp_path: Path
) -> None:
    registry, tls = private_tls_registry
    basic = {"username": USERNAME, "password": registry.password}
    src = source(registry.url)
    assert fetch(tmp_path / "ca", src, access(src, secret(**basic, ca_dot_crt=tls.ca_pem)))
    config = {"auths": {registry.host: {"auth": b64(f"{USERNAME}:{registry.password}")}}}
    docker = secret(_dot_dockerconfigjson=json.dumps(config), ca_dot_crt=tls.ca_pem)
    assert fetch(tmp_path / "docker", src, access(src, docker))
    insecure = source(registry.url, insecureSkipTLSVerify=True)
    assert fetch(tmp_path / "insecure", insecure, access(insecure, secret(**basic)))

    # (without TLS settings a loopback registry is spoken to over plain HTTP, so "no CA" is
    # tried with the HTTPS repository below)
    wrong = {"username": USERNAME, "password": "wrong-" + registry.password}
    refused = failure(tmp_path / "wrong", src, access(src, secret(**wrong, ca_dot_crt=tls.ca_pem)))
    assert refused.cause is ChartAccess.REFUSED
    assert wrong["password"] not in str(refused)


def test_oci_tls_settings_need_a_login(
    private_tls_registry: tuple[PrivateRegistry, Tls], tmp_path: Path
) -> None:
    """Helm's registry client takes its TLS settings at login: a CA alone is refused."""
    registry, tls = private_tls_registry
    src = source(registry.url)
    error = failure(tmp_path, src, access(src, secret(ca_dot_crt=tls.ca_pem)))
    assert error.cause is ChartAccess.CREDENTIALS
    assert "takes the CA bundle and insecureSkipTLSVerify at login" in error.reason


# --- HTTPS repository with its own CA ------------------------------------------------------


def test_https_basic_auth_with_the_ca_bundle(tls_chart_repo: TlsChartRepo, tmp_path: Path) -> None:
    src = source(tls_chart_repo.url)
    before = len(tls_chart_repo.requests)
    obj = secret(
        username=USERNAME, password=tls_chart_repo.password, ca_dot_crt=tls_chart_repo.tls.ca_pem
    )
    assert fetch(tmp_path, src, access(src, obj)).startswith("sha256:")
    assert tls_chart_repo.requests[before:] == [
        ("/charts/index.yaml", True),
        ("/charts/node-feature-discovery-0.19.0.tgz", True),
    ]


def test_https_bearer_token(tls_chart_repo: TlsChartRepo, tmp_path: Path) -> None:
    src = source(tls_chart_repo.url)
    obj = secret(token=tls_chart_repo.token, ca_dot_crt=tls_chart_repo.tls.ca_pem)
    assert fetch(tmp_path, src, access(src, obj)).startswith("sha256:")


def test_https_without_the_ca_fails_on_tls(tls_chart_repo: TlsChartRepo, tmp_path: Path) -> None:
    src = source(tls_chart_repo.url)
    acc = access(src, secret(username=USERNAME, password=tls_chart_repo.password))
    error = failure(tmp_path, src, acc)
    assert error.cause is ChartAccess.TLS
    assert "TLS certificate verification failed" in error.reason
    assert "x509" in error.reason or "certificate" in error.reason
    assert "key ca.crt of Secret team-a/chart-creds, or helm.insecureSkipTLSVerify" in error.reason
    # the bearer-token path (no Helm) says the same
    token = access(src, secret(token=tls_chart_repo.token))
    assert failure(tmp_path, src, token).cause is ChartAccess.TLS


def test_https_with_insecure_skip_tls_verify(tls_chart_repo: TlsChartRepo, tmp_path: Path) -> None:
    src = source(tls_chart_repo.url, insecureSkipTLSVerify=True)
    acc = access(src, secret(username=USERNAME, password=tls_chart_repo.password))
    assert fetch(tmp_path, src, acc).startswith("sha256:")


def test_https_wrong_password_is_refused(tls_chart_repo: TlsChartRepo, tmp_path: Path) -> None:
    src = source(tls_chart_repo.url)
    wrong = "nope-" + tls_chart_repo.password
    obj = secret(username=USERNAME, password=wrong, ca_dot_crt=tls_chart_repo.tls.ca_pem)
    error = failure(tmp_path, src, access(src, obj))
    assert error.cause is ChartAccess.REFUSED
    assert "401" in error.reason
    assert wrong not in str(error)


def test_credentials_go_to_another_host_only_with_pass_credentials(
    tls_chart_repo: TlsChartRepo, tmp_path: Path
) -> None:
    """The index names its archive on ``localhost``: the same server, another host."""
    other = tls_chart_repo.directory / "elsewhere"
    other.mkdir(exist_ok=True)
    index = (tls_chart_repo.directory / "index.yaml").read_text()
    archive = f"https://localhost:{tls_chart_repo.port}/charts/node-feature-discovery-0.19.0.tgz"
    (other / "index.yaml").write_text(
        index.replace("- node-feature-discovery-0.19.0.tgz", f"- {archive}")
    )
    obj = secret(
        username=USERNAME, password=tls_chart_repo.password, ca_dot_crt=tls_chart_repo.tls.ca_pem
    )
    src = source(f"{tls_chart_repo.url}/elsewhere")
    error = failure(tmp_path / "a", src, access(src, obj))
    assert error.cause is ChartAccess.REFUSED
    assert f"GET {archive}: HTTP 401" in error.reason
    passing = source(f"{tls_chart_repo.url}/elsewhere", passCredentials=True)
    assert fetch(tmp_path / "b", passing, access(passing, obj)).startswith("sha256:")


def test_credentials_follow_a_redirect_to_the_same_host_only(
    tls_chart_repo: TlsChartRepo, tmp_path: Path
) -> None:
    index = (tls_chart_repo.directory / "index.yaml").read_text()
    obj = secret(
        username=USERNAME, password=tls_chart_repo.password, ca_dot_crt=tls_chart_repo.tls.ca_pem
    )
    origin = f"https://127.0.0.1:{tls_chart_repo.port}"
    for hop in ("hop", "away"):
        (tls_chart_repo.directory / hop).mkdir(exist_ok=True)
        archive = f"{origin}/{hop}/node-feature-discovery-0.19.0.tgz"
        (tls_chart_repo.directory / hop / "index.yaml").write_text(
            index.replace("- node-feature-discovery-0.19.0.tgz", f"- {archive}")
        )
    same = source(f"{tls_chart_repo.url}/hop")
    assert fetch(tmp_path / "same", same, access(same, obj)).startswith("sha256:")
    away = source(f"{tls_chart_repo.url}/away", passCredentials=True)
    error = failure(tmp_path / "away", away, access(away, obj))
    assert error.cause is ChartAccess.REFUSED
    assert ("/charts/node-feature-discovery-0.19.0.tgz", False) in tls_chart_repo.requests


# --- the Secret itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        (None, "credentials Secret team-a/chart-creds: not found"),
        ({"data": {}}, "has none of the keys username/password, token, .dockerconfigjson, ca.crt"),
        (secret(username="u"), "has no key 'password' (basic auth needs username and password)"),
        (secret(username="u", password="p", token="t"), "more than one kind of credentials"),
        ({"data": {"password": "%%%", "username": "dQ=="}}, "key 'password' is not base64"),
        (secret(ca_dot_crt="not a certificate"), "key 'ca.crt' holds no PEM certificate"),
        (secret(_dot_dockerconfigjson="{}"), "key '.dockerconfigjson' has no 'auths' map"),
    ],
)
def test_an_unusable_secret_is_named_with_what_is_wrong(
    obj: dict[str, Any] | None, says: str
) -> None:
    with pytest.raises(ChartAccessError) as caught:
        access_from_secret("nfd", source("https://charts.example.com"), "team-a", obj)
    assert caught.value.cause is ChartAccess.CREDENTIALS
    assert str(caught.value).startswith("add-on 'nfd', chart node-feature-discovery:0.19.0")
    assert says in str(caught.value)


def test_a_token_is_refused_for_an_oci_registry() -> None:
    with pytest.raises(ChartAccessError, match="a token is for https:// repositories"):
        access_from_secret(
            "nfd", source("oci://registry.example.com/charts"), "ns", secret(token="t")
        )


def test_a_dockerconfigjson_without_the_https_host_is_refused() -> None:
    config = json.dumps({"auths": {"other.example.com": {"auth": b64("u:p")}}})
    with pytest.raises(ChartAccessError, match=r"has no credentials for charts\.example\.com"):
        access_from_secret(
            "nfd", source("https://charts.example.com"), "ns", secret(_dot_dockerconfigjson=config)
        )


def test_credentials_are_kept_out_of_repr() -> None:
    acc = access(source("https://charts.example.com"), secret(username="u", password="hunter2-pw"))
    assert "hunter2-pw" not in repr(acc)
    assert (
        acc.redact("said hunter2-pw and " + b64("u:hunter2-pw")) == "said <redacted> and <redacted>"
    )


def test_file_repositories_take_no_credentials() -> None:
    with pytest.raises(ValueError, match="a file:// repository takes no credentials"):
        source("file://charts")
