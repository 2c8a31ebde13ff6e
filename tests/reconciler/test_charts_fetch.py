"""Fetching charts from a real HTTP repository, a real OCI registry and local directories."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from conftest import HttpChartRepo, OciRegistry

from function.errors import ChartError, SourceLocation
from function.model.bundle import HelmSource
from function.reconciler.chartdigest import directory_digest, file_digest
from function.reconciler.charts import ChartFetcher, _repository_error
from function.reconciler.helm import ChartRenderer, SdkEngine


def source(
    repository: str, chart: str = "node-feature-discovery", version: str = "0.19.0"
) -> HelmSource:
    return HelmSource(repository=repository, chart=chart, version=version)


def fetch_error(fetcher: ChartFetcher, src: HelmSource) -> ChartError:
    with pytest.raises(ChartError) as caught:
        fetcher.fetch(src, addon="nfd")
    return caught.value


# --- https:// (here: http on loopback) ------------------------------------------------------


def test_http_chart_is_verified_cached_and_fetched_once(
    http_chart_repo: HttpChartRepo, tmp_path: Path
) -> None:
    src = source(http_chart_repo.url)
    fetcher = ChartFetcher(tmp_path / "cache")
    before = len(http_chart_repo.requests)
    fetched = fetcher.fetch(src, addon="nfd")
    archive = http_chart_repo.directory / "node-feature-discovery-0.19.0.tgz"
    assert fetched.digest == helm.digest(archive) == file_digest(fetched.path)
    assert fetched.path.read_bytes() == archive.read_bytes()
    assert http_chart_repo.requests[before:] == [
        "/charts/index.yaml",
        "/charts/node-feature-discovery-0.19.0.tgz",
    ]

    assert fetcher.fetch(src, addon="nfd") == fetched
    restarted = ChartFetcher(tmp_path / "cache")
    assert restarted.fetch(src, addon="nfd") == fetched
    assert len(http_chart_repo.requests) == before + 2  # no network I/O after the first fetch

    objects = ChartRenderer(restarted, SdkEngine()).render("nfd", src, {}, "nfd")
    assert ("DaemonSet", "nfd-node-feature-discovery-worker") in {
        (o.body["kind"], o.body["metadata"]["name"]) for o in objects
    }


def test_concurrent_fetches_download_once(http_chart_repo: HttpChartRepo, tmp_path: Path) -> None:
    src = source(http_chart_repo.url, "vllm-stack", "0.1.12")
    fetcher = ChartFetcher(tmp_path / "cache")
    before = len(http_chart_repo.downloads())
    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = list(pool.map(lambda _: fetcher.fetch(src, addon="vllm"), range(16)))
    assert len({f.digest for f in fetched}) == 1
    assert len(http_chart_repo.downloads()) == before + 1


def test_unknown_chart_and_version_are_final_errors(
    http_chart_repo: HttpChartRepo, fetcher: ChartFetcher
) -> None:
    error = fetch_error(fetcher, source(http_chart_repo.url, chart="no-such-chart"))
    assert not error.transient
    assert str(error) == (
        f"add-on 'nfd', chart no-such-chart:0.19.0 ({http_chart_repo.url}): "
        "the repository has no chart named 'no-such-chart'"
    )
    error = fetch_error(fetcher, source(http_chart_repo.url, version="9.9.9"))
    assert not error.transient
    assert error.reason == "version '9.9.9' not found; available: 0.19.0"


def test_an_unreachable_repository_is_a_transient_error(fetcher: ChartFetcher) -> None:
    error = fetch_error(fetcher, source("http://127.0.0.1:9/charts"))
    assert error.transient
    assert "connection refused" in error.reason
    assert error.location.file == "chart node-feature-discovery:0.19.0 (http://127.0.0.1:9/charts)"


def test_a_missing_repository_index_is_a_final_error(
    http_chart_repo: HttpChartRepo, fetcher: ChartFetcher
) -> None:
    error = fetch_error(fetcher, source(http_chart_repo.url + "/nowhere"))
    assert not error.transient
    assert "404" in error.reason


def test_an_archive_that_does_not_match_the_index_digest_is_refused(
    http_chart_repo: HttpChartRepo, tmp_path: Path
) -> None:
    tampered = http_chart_repo.directory / "tampered"
    tampered.mkdir()
    index = yaml.safe_load((http_chart_repo.directory / "index.yaml").read_text())
    entry = index["entries"]["node-feature-discovery"][0]
    entry["urls"] = ["../vllm-stack-0.1.12.tgz"]  # a real archive, but not the indexed one
    (tampered / "index.yaml").write_text(yaml.safe_dump(index))
    error = fetch_error(ChartFetcher(tmp_path / "cache"), source(f"{http_chart_repo.url}/tampered"))
    assert not error.transient
    assert error.reason.startswith(f"digest mismatch: the index says sha256:{entry['digest']}")


# --- oci:// --------------------------------------------------------------------------------


def test_oci_chart_is_pulled_once_and_cached(oci_registry: OciRegistry, tmp_path: Path) -> None:
    src = source(oci_registry.url)
    fetched = ChartFetcher(tmp_path / "cache").fetch(src, addon="nfd")
    assert file_digest(fetched.path) == fetched.digest
    with helm.Chart.load(fetched.path) as chart:
        assert (chart.name, chart.version) == ("node-feature-discovery", "0.19.0")
    served = oci_registry.requests()
    assert ChartFetcher(tmp_path / "cache").fetch(src, addon="nfd") == fetched
    assert oci_registry.requests() == served


def test_unknown_oci_version_is_a_final_error(
    oci_registry: OciRegistry, fetcher: ChartFetcher
) -> None:
    error = fetch_error(fetcher, source(oci_registry.url, version="9.9.9"))
    assert not error.transient
    assert "not found" in error.reason


def test_an_unreachable_registry_is_a_transient_error(fetcher: ChartFetcher) -> None:
    error = fetch_error(fetcher, source("oci://127.0.0.1:9/charts"))
    assert error.transient
    assert "connection refused" in error.reason


# --- file:// -------------------------------------------------------------------------------


def test_file_repository_is_resolved_against_the_root(tmp_path: Path, example_charts: Path) -> None:
    root = tmp_path / "workdir"
    shutil.copytree(
        example_charts / "node-feature-discovery", root / "charts" / "node-feature-discovery"
    )
    helm.package(example_charts / "vllm-stack", destination=root / "charts")
    fetcher = ChartFetcher(tmp_path / "cache", file_root=root)

    directory = fetcher.fetch(source("file://charts"), addon="nfd")
    assert directory.path == root / "charts" / "node-feature-discovery"
    assert directory.digest == directory_digest(directory.path)

    archive = fetcher.fetch(source("file://charts", "vllm-stack", "0.1.12"), addon="vllm")
    assert archive.path == root / "charts" / "vllm-stack-0.1.12.tgz"
    assert archive.digest == helm.digest(archive.path)

    absolute = fetcher.fetch(source(f"file://{root}/charts"), addon="nfd")
    assert absolute.digest == directory.digest


def test_a_local_chart_of_another_version_is_not_taken(fetcher: ChartFetcher) -> None:
    error = fetch_error(fetcher, source("file://examples/charts", version="0.18.0"))
    assert not error.transient
    assert error.reason.startswith("version '0.18.0' not found:")
    assert "has version '0.19.0'" in error.reason


def test_an_edited_local_chart_gets_a_new_digest_after_the_recheck_interval(
    tmp_path: Path, example_charts: Path
) -> None:
    shutil.copytree(
        example_charts / "node-feature-discovery", tmp_path / "repo" / "node-feature-discovery"
    )
    source = HelmSource(
        repository=f"file://{tmp_path / 'repo'}", chart="node-feature-discovery", version="0.19.0"
    )
    eager = ChartFetcher(tmp_path / "a", local_recheck=0)
    lazy = ChartFetcher(tmp_path / "b", local_recheck=3600)
    before = eager.fetch(source, addon="nfd").digest
    assert lazy.fetch(source, addon="nfd").digest == before
    values = tmp_path / "repo" / "node-feature-discovery" / "values.yaml"
    values.write_text(values.read_text() + "\nextra: 1\n")
    assert eager.fetch(source, addon="nfd").digest != before
    assert lazy.fetch(source, addon="nfd").digest == before  # not looked at again yet


def test_a_refused_connection_is_transient_whatever_the_port_number() -> None:
    where = SourceLocation("remote", "x:1.0.0")
    refused = (
        'Get "http://127.0.0.1:40481/charts/index.yaml": '
        "dial tcp 127.0.0.1:40481: connect: connection refused"
    )
    assert _repository_error(where, refused).transient
    assert not _repository_error(where, "failed to fetch index.yaml : 404 Not Found").transient
    assert not _repository_error(where, "response status code 404").transient
