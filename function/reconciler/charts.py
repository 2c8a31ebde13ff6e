"""Fetching Helm charts into a content-addressed cache, from HTTP, OCI and local repositories.

`ChartFetcher.fetch(source, addon=...)` turns a `HelmSource` (repository, chart, version)
into a `FetchedChart`: the chart archive or directory on local disk and its digest.

- ``https://`` (or ``http://``) — the repository's ``index.yaml`` (read by helm-python-sdk),
  the exact version picked, the ``.tgz`` downloaded and checked against the index digest.
- ``oci://host/path`` — ``oci://host/path/<chart>:<version>`` pulled with helm-python-sdk;
  loopback registries are spoken to over plain HTTP, unless the add-on gives a CA bundle or
  ``insecureSkipTLSVerify``.
- ``file://dir`` — a directory holding ``<chart>/`` (with that version in ``Chart.yaml``) or
  ``<chart>-<version>.tgz``; relative paths are resolved against ``file_root`` (default: the
  working directory). A local chart is re-hashed whenever one of its files changes size or
  modification time, so edits are picked up without hashing every file on every fetch.

Remote charts land in ``<cache_dir>/charts/sha256/<hex>.tgz``; a small ref file per
(repository, chart, version) remembers the digest, so a second fetch of the same version (in
this process or after a restart) does no network I/O. Versions are treated as immutable, as
Helm does. The fetcher is safe to share between threads: one download per chart version at a
time, files written to a temporary name and renamed into place.

Private repositories: a `RepositoryAccess` (from the add-on's credentials Secret,
`function.reconciler.chartaccess`) gives Helm the username and password (``helm repo``'s
``--username``/``--password``, ``--pass-credentials``), the CA bundle (``--ca-file``) and
``--insecure-skip-tls-verify``, and for oci:// the registry configuration
(``--registry-config``), through files that exist only while Helm reads them. Archives are
downloaded with the same credentials (a bearer token for index and archive alike), sent only to
the repository's own host unless ``passCredentials``, and along a redirect only to the same
scheme and host (as Go's HTTP client, Helm's, does). A chart
fetched with a Secret is cached for that Secret only, one fetched without verifying TLS only for
add-ons that skip verification too.

Errors are `ChartError`s naming the add-on and the chart; ``transient`` marks an unreachable
repository; `ChartAccessError` a refused login or an unverifiable certificate, with every
credential redacted from what Helm or the network said. Neighbours: `function.reconciler.helm`
loads and renders what this module fetched.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import helm_python as helm
import yaml
from helm_python import _native

from function.errors import ChartAccess, ChartAccessError, ChartError, SourceLocation
from function.model.bundle import HelmSource
from function.reconciler.chartaccess import (
    AccessFiles,
    RepositoryAccess,
    SameHostRedirects,
    access_error,
    access_files,
    authorization,
    tls_context,
    tls_error,
)
from function.reconciler.chartdigest import Signature, directory_digest, file_digest, signature_of

_LOOPBACK_NAMES = frozenset({"localhost"})
LOCAL_RECHECK_SECONDS = 2.0
"""How stale the digest of a ``file://`` chart directory may be after an edit."""


@dataclass(frozen=True)
class ChartRef:
    """Which chart: repository URL, chart name and exact version."""

    repository: str
    chart: str
    version: str
    secret: str = ""
    """The credentials Secret (``namespace/name``) the chart is fetched with, if any."""
    unverified: bool = False
    """Fetched without verifying the repository's certificate (``insecureSkipTLSVerify``):
    never served to an add-on that verifies it."""

    @classmethod
    def of(cls, source: HelmSource, access: RepositoryAccess | None = None) -> ChartRef:
        """The chart a `HelmSource` names, as fetched with ``access``."""
        secret = access.secret if access is not None else ""
        unverified = access is not None and access.insecure_skip_tls_verify
        return cls(source.repository.rstrip("/"), source.chart, source.version, secret, unverified)

    def __str__(self) -> str:
        return f"chart {self.chart}:{self.version} ({self.repository})"


@dataclass(frozen=True)
class FetchedChart:
    """A chart on local disk: ``path`` is a ``.tgz`` or a chart directory."""

    ref: ChartRef
    digest: str
    path: Path


class ChartFetcher:
    """Fetches charts once and serves them from a cache directory afterwards."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        file_root: Path | None = None,
        timeout: float = 60.0,
        local_recheck: float = LOCAL_RECHECK_SECONDS,
    ) -> None:
        """``timeout`` bounds each HTTP download in seconds; ``local_recheck`` is how often a
        ``file://`` chart directory is looked at again for edits."""
        self._archives = cache_dir / "charts" / "sha256"
        self._refs = cache_dir / "refs"
        self._scratch = cache_dir / "tmp"
        for directory in (self._archives, self._refs, self._scratch):
            directory.mkdir(parents=True, exist_ok=True)
        self._file_root = file_root or Path.cwd()
        self._timeout = timeout
        self._local_recheck = local_recheck
        self._fetched: dict[ChartRef, FetchedChart] = {}
        self._local: dict[ChartRef, tuple[float, FetchedChart]] = {}
        """``file://`` charts as last found, and when (valid for ``local_recheck`` seconds)."""
        self._directories: dict[Path, tuple[float, Signature, tuple[str, str]]] = {}
        self._locks: dict[ChartRef, threading.Lock] = {}
        self._guard = threading.Lock()

    def fetch(
        self, source: HelmSource, *, addon: str, access: RepositoryAccess | None = None
    ) -> FetchedChart:
        """The chart ``source`` names, from memory, the cache, or its repository (reached
        with ``access``: credentials and TLS settings)."""
        ref = ChartRef.of(source, access)
        location = SourceLocation(addon, str(ref))
        if ref.repository.startswith("file://"):
            local = self._from_directory(ref, location)
            self._local[ref] = (time.monotonic(), local)
            return local
        fetched = self._fetched.get(ref)
        if fetched is not None:
            return fetched
        with self._lock_for(ref):
            fetched = self._fetched.get(ref) or self._from_cache(ref)
            if fetched is None:
                if ref.repository.startswith("oci://"):
                    fetched = self._pull_oci(ref, location, access)
                else:
                    fetched = self._download(ref, location, access)
            self._fetched[ref] = fetched
            return fetched

    def cached(
        self, source: HelmSource, access: RepositoryAccess | None = None
    ) -> FetchedChart | None:
        """The chart ``source`` names if it is known without any I/O (fetched before, with
        the same Secret, or a ``file://`` directory looked at within ``local_recheck``
        seconds), else None."""
        ref = ChartRef.of(source, access)
        if not ref.repository.startswith("file://"):
            return self._fetched.get(ref)
        local = self._local.get(ref)
        if local is None or time.monotonic() - local[0] >= self._local_recheck:
            return None
        return local[1]

    def _lock_for(self, ref: ChartRef) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(ref, threading.Lock())

    # --- the cache ----------------------------------------------------------------------

    def _ref_file(self, ref: ChartRef) -> Path:
        name = f"{ref.repository}\0{ref.chart}\0{ref.version}"
        if ref.secret or ref.unverified:
            name += f"\0{ref.secret}\0{ref.unverified}"
        key = hashlib.sha256(name.encode())
        return self._refs / f"{key.hexdigest()}.json"

    def _archive(self, digest: str) -> Path:
        return self._archives / f"{digest.removeprefix('sha256:')}.tgz"

    def _from_cache(self, ref: ChartRef) -> FetchedChart | None:
        try:
            digest = json.loads(self._ref_file(ref).read_text())["digest"]
        except (OSError, ValueError, KeyError):
            return None
        archive = self._archive(digest)
        return FetchedChart(ref, digest, archive) if archive.is_file() else None

    def _store(self, ref: ChartRef, archive: Path) -> FetchedChart:
        """Move a downloaded archive into the cache under its digest and remember it."""
        digest = file_digest(archive)
        target = self._archive(digest)
        os.replace(archive, target)
        record = {"repository": ref.repository, "chart": ref.chart, "version": ref.version}
        self._write_atomically(self._ref_file(ref), json.dumps({**record, "digest": digest}))
        return FetchedChart(ref, digest, target)

    def _write_atomically(self, target: Path, text: str) -> None:
        fd, name = tempfile.mkstemp(dir=self._scratch)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(name, target)

    # --- https:// ----------------------------------------------------------------------

    def _download(
        self, ref: ChartRef, location: SourceLocation, access: RepositoryAccess | None
    ) -> FetchedChart:
        with access_files(access, ref.repository, self._scratch) as files:
            entry = self._index_entry(ref, location, access, files)
            urls = entry.get("urls") or []
            if not urls:
                raise ChartError(location, "the repository index lists no download URL")
            url = urljoin(ref.repository + "/", str(urls[0]))
            if urlsplit(url).scheme not in ("http", "https"):
                raise ChartError(location, f"the repository index points outside HTTP(S): {url}")
            fd, name = tempfile.mkstemp(dir=self._scratch, suffix=".tgz")
            try:
                with (
                    os.fdopen(fd, "wb") as out,
                    self._open(url, location, access, ref.repository) as response,
                ):
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                expected = str(entry.get("digest") or "")
                actual = file_digest(Path(name))
                if expected and actual != f"sha256:{expected.removeprefix('sha256:')}":
                    raise ChartError(
                        location,
                        f"digest mismatch: the index says sha256:{expected}, {url} is {actual}",
                    )
                return self._store(ref, Path(name))
            finally:
                Path(name).unlink(missing_ok=True)

    def _index_entry(
        self,
        ref: ChartRef,
        location: SourceLocation,
        access: RepositoryAccess | None,
        files: AccessFiles,
    ) -> dict[str, Any]:
        if access is not None and access.token is not None:  # Helm speaks basic auth only
            index = self._index_over_http(ref, location, access)
        else:
            index = self._index_from_helm(ref, location, access, files)
        versions = index.get("entries", {}).get(ref.chart)
        if not versions:
            raise ChartError(location, f"the repository has no chart named {ref.chart!r}")
        for entry in versions:
            if str(entry.get("version")) == ref.version:
                return dict(entry)
        known = ", ".join(str(e.get("version")) for e in versions[:10])
        raise ChartError(location, f"version {ref.version!r} not found; available: {known}")

    def _index_from_helm(
        self,
        ref: ChartRef,
        location: SourceLocation,
        access: RepositoryAccess | None,
        files: AccessFiles,
    ) -> dict[str, Any]:
        """``index.yaml`` as ``helm repo add`` reads it, with its credentials and TLS flags."""
        options: dict[str, Any] = {}
        if access is not None:
            basic = access.basic_auth(ref.repository)
            if basic is not None:
                options.update(username=basic[0], password=basic[1])
            if access.insecure_skip_tls_verify:
                options["insecure_skip_tls_verify"] = True
            if access.pass_credentials:
                options["pass_credentials_all"] = True
        if files.ca_file is not None:
            options["ca_file"] = str(files.ca_file)
        try:
            # `helm.repo_index` does not pass ca_file on; the call it wraps reads it.
            text = _native.call_string(
                "helm_repo_index_download",
                ref.repository,
                json.dumps(options) if options else None,
            )
        except helm.HelmError as exc:
            raise _repository_error(location, exc.detail, access) from exc
        index: dict[str, Any] = json.loads(text)
        return index

    def _index_over_http(
        self, ref: ChartRef, location: SourceLocation, access: RepositoryAccess
    ) -> dict[str, Any]:
        url = ref.repository + "/index.yaml"
        with self._open(url, location, access, ref.repository) as response:
            text = response.read()
        try:
            index = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ChartError(location, f"{url} is not a repository index: {exc}") from exc
        if not isinstance(index, dict):
            raise ChartError(location, f"{url} is not a repository index")
        return index

    def _open(
        self,
        url: str,
        location: SourceLocation,
        access: RepositoryAccess | None = None,
        repository: str = "",
    ) -> Any:
        request = urllib.request.Request(url)
        context: ssl.SSLContext | None = None
        if access is not None:
            same_host = urlsplit(url).netloc == urlsplit(repository).netloc
            header = authorization(access, repository)
            if header is not None and (same_host or access.pass_credentials):
                request.add_unredirected_header("Authorization", header)
            context = tls_context(access)
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), SameHostRedirects()
        )
        try:
            return opener.open(request, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            detail = f"GET {url}: HTTP {exc.code} {exc.reason}"
            raise _repository_error(location, detail, access) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, ssl.SSLCertVerificationError):
                detail = f"GET {url}: {reason.verify_message or reason}"
                raise tls_error(location, detail, access) from exc
            raise ChartError(location, f"GET {url}: {exc}", transient=True) from exc

    # --- oci:// ------------------------------------------------------------------------

    def _pull_oci(
        self, ref: ChartRef, location: SourceLocation, access: RepositoryAccess | None
    ) -> FetchedChart:
        destination = Path(tempfile.mkdtemp(dir=self._scratch))
        tls = access is not None and (access.insecure_skip_tls_verify or bool(access.ca_bundle))
        plain_http = _is_loopback(ref.repository) and not tls  # TLS settings: a TLS registry
        options: dict[str, Any] = {"dest_dir": str(destination), "version": ref.version}
        if plain_http:
            options["plain_http"] = True
        try:
            with access_files(access, ref.repository, self._scratch) as files:
                client = _registry_client(ref, location, access, files, plain_http=plain_http)
                try:
                    handle = client._raw() if client is not None else _native.HANDLE(0)
                    _native.call_string(
                        "helm_pull", handle, f"{ref.repository}/{ref.chart}", json.dumps(options)
                    )
                finally:
                    if client is not None:
                        client.close()
            archives = sorted(destination.glob("*.tgz"))
            if len(archives) != 1:
                raise ChartError(location, "the registry returned no chart archive")
            return self._store(ref, archives[0])
        except helm.HelmError as exc:
            raise _repository_error(location, exc.detail, access) from exc
        finally:
            for leftover in destination.iterdir():
                leftover.unlink()
            destination.rmdir()

    # --- file:// -----------------------------------------------------------------------

    def _from_directory(self, ref: ChartRef, location: SourceLocation) -> FetchedChart:
        root = Path(ref.repository.removeprefix("file://"))
        root = root if root.is_absolute() else self._file_root / root
        chart_dir = root / ref.chart
        if (chart_dir / "Chart.yaml").is_file():
            version, digest = self._identify(chart_dir, location)
            if version == ref.version:
                return FetchedChart(ref, digest, chart_dir)
            found = f"{chart_dir} has version {version!r}"
        else:
            found = f"no chart directory {chart_dir}"
        archive = root / f"{ref.chart}-{ref.version}.tgz"
        if archive.is_file():
            return FetchedChart(ref, file_digest(archive), archive)
        raise ChartError(location, f"version {ref.version!r} not found: {found}, no {archive}")

    def _identify(self, chart_dir: Path, location: SourceLocation) -> tuple[str, str]:
        """Version and `directory_digest` of a chart directory, re-read only after edits.

        Edits are looked for at most every ``local_recheck`` seconds: every add-on of every
        cluster asks, and walking a chart's files each time costs more than hashing inputs.
        """
        now = time.monotonic()
        known = self._directories.get(chart_dir)
        if known is not None and now - known[0] < self._local_recheck:
            return known[2]
        signature = signature_of(chart_dir)
        if known is not None and known[1] == signature:
            self._directories[chart_dir] = (now, signature, known[2])
            return known[2]
        identity = (_chart_version(chart_dir / "Chart.yaml", location), directory_digest(chart_dir))
        self._directories[chart_dir] = (now, signature, identity)
        return identity


def _chart_version(chart_yaml: Path, location: SourceLocation) -> str:
    try:
        metadata = yaml.safe_load(chart_yaml.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ChartError(location, f"{chart_yaml} is unreadable: {exc}") from exc
    return str(metadata.get("version", "")) if isinstance(metadata, dict) else ""


_NOT_FOUND_CODE = re.compile(r"\b404\b(?![.:\d])")
"""HTTP 404 in a message, not the digits of a port or an address (``127.0.0.1:40481``)."""


def _repository_error(
    location: SourceLocation, detail: str, access: RepositoryAccess | None = None
) -> ChartError:
    """Helm's and HTTP's 'not found' is final, so are a refused login and an unverifiable
    certificate (`access_error`); anything else may pass (retry later)."""
    refused = access_error(location, detail, access)
    if refused is not None:
        return refused
    not_found = "not found" in detail.lower() or _NOT_FOUND_CODE.search(detail) is not None
    return ChartError(location, detail, transient=not not_found)


def _registry_client(
    ref: ChartRef,
    location: SourceLocation,
    access: RepositoryAccess | None,
    files: AccessFiles,
    *,
    plain_http: bool,
) -> helm.RegistryClient | None:
    """A registry client reading the add-on's registry configuration (None: Helm's default
    client). Helm's registry client takes its TLS settings (``--ca-file``,
    ``--insecure-skip-tls-verify``) at login, so with those it logs in first, with the
    Secret's username and password (or the registry host's ``.dockerconfigjson`` entry)."""
    tls = access is not None and (access.insecure_skip_tls_verify or bool(access.ca_bundle))
    basic = access.basic_auth(ref.repository) if access is not None else None
    if tls and basic is None:
        raise ChartAccessError(
            location,
            "an oci:// registry takes the CA bundle and insecureSkipTLSVerify at login: the "
            "credentials Secret needs username and password (or a .dockerconfigjson entry for "
            f"{urlsplit(ref.repository).netloc}) beside them",
            cause=ChartAccess.CREDENTIALS,
        )
    if files.registry_config is None:
        return None
    client = helm.RegistryClient(plain_http=plain_http, credentials_file=files.registry_config)
    if not tls or basic is None or access is None:
        return client
    options: dict[str, Any] = {}
    if access.insecure_skip_tls_verify:
        options["insecure"] = True
    if files.ca_file is not None:
        options["ca_file"] = str(files.ca_file)
    host = urlsplit(ref.repository).netloc
    try:  # helm registry login --ca-file / --insecure
        _native.call_status(
            "helm_registry_login", client._raw(), host, basic[0], basic[1], json.dumps(options)
        )
    except BaseException:
        client.close()
        raise
    return client


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
