"""Credentials and TLS settings for private chart repositories, read from a Secret.

An add-on's ``helm.credentialsSecretRef`` names a Secret in the bundle's namespace;
`access_from_secret` turns it into a `RepositoryAccess`, refusing (with a
`ChartAccessError` naming the add-on and the Secret) a Secret that is missing, has none of
the keys below, has two kinds of credentials, or holds something unusable:

- ``username`` + ``password`` — basic auth (a ``kubernetes.io/basic-auth`` Secret);
- ``token`` — a bearer token (``Authorization: Bearer``), for https:// repositories;
- ``.dockerconfigjson`` — a ``kubernetes.io/dockerconfigjson`` Secret: for oci:// it is the
  registry configuration Helm reads (``--registry-config``); for https:// the entry of the
  repository's host gives the username and password;
- ``ca.crt`` — with any of them, or alone: a PEM CA bundle for the repository's certificate.

`RepositoryAccess` keeps the credentials out of ``repr`` and can `redact` them from any text
(an error from Helm or the network) before it reaches a log, an event or a status;
`access_error` tells a refused login and an unverifiable certificate from other failures in
what Helm or HTTP said. Everything here is pure but `access_files`: the files Helm reads the CA
bundle and registry configuration from, which exist only inside it. Neighbours:
`function.reconciler.charts` (uses it to fetch), `function.reconciler.inputs` (reads the
Secret).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import ssl
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from function.errors import ChartAccess, ChartAccessError, SourceLocation
from function.model.bundle import HelmSource

USERNAME, PASSWORD, TOKEN = "username", "password", "token"
DOCKER_CONFIG = ".dockerconfigjson"
CA_BUNDLE = "ca.crt"
_REDACTED = "<redacted>"


@dataclass(frozen=True)
class RepositoryAccess:
    """How to reach one private repository: the Secret it came from and what it holds."""

    secret: str
    """``namespace/name`` of the Secret (or empty with no Secret): part of the cache key, so
    a chart fetched with one Secret is never served to an add-on that names another."""
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    docker_config: bytes | None = field(default=None, repr=False)
    ca_bundle: bytes | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False
    pass_credentials: bool = False

    @property
    def has_credentials(self) -> bool:
        """Whether anything is sent to the repository (beyond verifying its certificate)."""
        return any(v is not None for v in (self.username, self.token, self.docker_config))

    def redact(self, text: str) -> str:
        """``text`` with every credential of this access (and its base64 forms) replaced."""
        for secret in self._values():
            text = text.replace(secret, _REDACTED)
        return text

    def _values(self) -> list[str]:
        values = [v for v in (self.password, self.token) if v]
        if self.username and self.password:
            values.append(_b64(f"{self.username}:{self.password}"))
        if self.docker_config:
            for entry in _auth_entries(self.docker_config):
                values.extend(str(entry[k]) for k in ("auth", PASSWORD) if entry.get(k))
        return sorted(set(values), key=len, reverse=True)  # longest first: no partial leftovers

    def basic_auth(self, repository: str) -> tuple[str, str] | None:
        """Username and password for an https:// repository, from either form of Secret."""
        if self.username is not None and self.password is not None:
            return self.username, self.password
        if self.docker_config is None:
            return None
        host = urlsplit(repository).netloc
        for key, entry in _docker_auths(self.docker_config).items():
            if _registry_host(key) != host:
                continue
            if entry.get(USERNAME) and entry.get(PASSWORD):
                return str(entry[USERNAME]), str(entry[PASSWORD])
            try:
                user, _, password = (
                    base64.b64decode(str(entry.get("auth", ""))).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                return None
            return (user, password) if user else None
        return None

    def registry_config(self, repository: str) -> bytes | None:
        """The registry configuration (Docker's config.json format) Helm reads for oci://."""
        if self.docker_config is not None:
            return self.docker_config
        if self.username is not None and self.password is not None:
            host = urlsplit(repository).netloc
            auth = _b64(f"{self.username}:{self.password}")
            return json.dumps({"auths": {host: {"auth": auth}}}).encode()
        return None


@dataclass(frozen=True)
class AccessFiles:
    """Where Helm finds the CA bundle and the registry configuration, while they exist."""

    ca_file: Path | None
    registry_config: Path | None


@contextmanager
def access_files(
    access: RepositoryAccess | None, repository: str, scratch: Path
) -> Iterator[AccessFiles]:
    """The CA bundle and registry configuration as files readable by this user only, in a
    private directory under ``scratch`` removed on exit (even when Helm fails)."""
    if access is None or (access.ca_bundle is None and not access.has_credentials):
        yield AccessFiles(None, None)
        return
    directory = Path(tempfile.mkdtemp(dir=scratch, prefix="access-"))  # mode 0700
    try:
        ca_file = _write(directory / "ca.crt", access.ca_bundle)
        config = repository.startswith("oci://")
        registry = _write(
            directory / "config.json", access.registry_config(repository) if config else None
        )
        yield AccessFiles(ca_file, registry)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write(path: Path, data: bytes | None) -> Path | None:
    if data is None:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def secret_identity(source: HelmSource, namespace: str) -> str:
    """``namespace/name`` of the credentials Secret an add-on names ('' for none)."""
    ref = source.credentials_secret_ref
    return f"{namespace}/{ref.name}" if ref is not None else ""


def plain_access(source: HelmSource, namespace: str) -> RepositoryAccess | None:
    """The access of an add-on without reading its Secret: enough for a cached chart."""
    if source.credentials_secret_ref is None and not source.insecure_skip_tls_verify:
        return None
    return RepositoryAccess(
        secret_identity(source, namespace),
        insecure_skip_tls_verify=source.insecure_skip_tls_verify,
        pass_credentials=source.pass_credentials,
    )


def access_from_secret(
    addon: str, source: HelmSource, namespace: str, secret: Mapping[str, Any] | None
) -> RepositoryAccess | None:
    """The access an add-on's chart needs, from its Secret (None: the Secret does not exist).

    Raises `ChartAccessError` for a missing or unusable Secret; its message names the
    add-on, the chart, the Secret and the keys it looked for, never a value.
    """
    base = plain_access(source, namespace)
    if source.credentials_secret_ref is None:
        return base
    assert base is not None
    where = f"Secret {base.secret}"
    location = SourceLocation(addon, f"chart {source.chart}:{source.version} ({source.repository})")

    def refuse(reason: str) -> ChartAccessError:
        return ChartAccessError(
            location, f"credentials {where}: {reason}", cause=ChartAccess.CREDENTIALS
        )

    if secret is None:
        raise refuse("not found (helm.credentialsSecretRef)")
    data = _decoded(secret, refuse)
    has = {key for key in (USERNAME, PASSWORD, TOKEN, DOCKER_CONFIG, CA_BUNDLE) if key in data}
    forms = [k for k in (USERNAME, TOKEN, DOCKER_CONFIG) if k in has]
    if not has:
        raise refuse(
            f"has none of the keys {USERNAME}/{PASSWORD}, {TOKEN}, {DOCKER_CONFIG}, {CA_BUNDLE}"
        )
    if len(forms) > 1:
        raise refuse(f"holds more than one kind of credentials ({', '.join(forms)}); keep one")
    if (USERNAME in has) != (PASSWORD in has):
        missing = PASSWORD if USERNAME in has else USERNAME
        raise refuse(f"has no key {missing!r} (basic auth needs {USERNAME} and {PASSWORD})")
    oci = source.repository.startswith("oci://")
    if TOKEN in has and oci:
        raise refuse(
            f"a {TOKEN} is for https:// repositories; an OCI registry takes {USERNAME}/"
            f"{PASSWORD} (a token as the password) or {DOCKER_CONFIG}"
        )
    text = {k: _text(data[k], k, refuse) for k in (USERNAME, PASSWORD, TOKEN) if k in data}
    docker_config = data.get(DOCKER_CONFIG)
    if docker_config is not None:
        _check_docker_config(docker_config, refuse)
    ca_bundle = data.get(CA_BUNDLE)
    if ca_bundle is not None and b"-----BEGIN CERTIFICATE-----" not in ca_bundle:
        raise refuse(f"key {CA_BUNDLE!r} holds no PEM certificate")
    access = RepositoryAccess(
        base.secret,
        username=text.get(USERNAME),
        password=text.get(PASSWORD),
        token=text.get(TOKEN),
        docker_config=docker_config,
        ca_bundle=ca_bundle,
        insecure_skip_tls_verify=source.insecure_skip_tls_verify,
        pass_credentials=source.pass_credentials,
    )
    if docker_config is not None and not oci and access.basic_auth(source.repository) is None:
        host = urlsplit(source.repository).netloc
        raise refuse(f"key {DOCKER_CONFIG!r} has no credentials for {host}")
    return access


_REFUSED = re.compile(
    r"\b(401|403)\b|unauthori[sz]ed|forbidden|authentication required|denied"
    r"|credential not found",
    re.IGNORECASE,
)
_UNTRUSTED = re.compile(
    r"x509:|certificate (signed by unknown|is not valid|has expired)|certificate verify failed"
    r"|tls: failed to verify",
    re.IGNORECASE,
)


def access_error(
    location: SourceLocation, detail: str, access: RepositoryAccess | None
) -> ChartAccessError | None:
    """What Helm or HTTP said (``detail``) as a refused login or an unverifiable certificate,
    credentials redacted; None when it is neither."""
    if access is not None:
        detail = access.redact(detail)
    if _UNTRUSTED.search(detail):
        return tls_error(location, detail, access)
    if _REFUSED.search(detail):
        if access is not None and access.has_credentials:
            reason = f"the repository refused the credentials of Secret {access.secret}: {detail}"
        else:
            reason = (
                f"the repository asks for credentials (set helm.credentialsSecretRef): {detail}"
            )
        return ChartAccessError(location, reason, cause=ChartAccess.REFUSED)
    return None


def tls_error(
    location: SourceLocation, detail: str, access: RepositoryAccess | None
) -> ChartAccessError:
    """A certificate that could not be verified, with what to set."""
    if access is not None:
        detail = access.redact(detail)
    where = f" of Secret {access.secret}" if access is not None and access.secret else ""
    hint = f"(set the CA bundle: key ca.crt{where}, or helm.insecureSkipTLSVerify)"
    return ChartAccessError(
        location, f"TLS certificate verification failed {hint}: {detail}", cause=ChartAccess.TLS
    )


def authorization(access: RepositoryAccess, repository: str) -> str | None:
    """The ``Authorization`` header of a request to ``repository``."""
    if access.token is not None:
        return f"Bearer {access.token}"
    basic = access.basic_auth(repository)
    if basic is None:
        return None
    return "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()


class SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, keeping the ``Authorization`` header only to the same scheme and
    host, as Go's HTTP client (Helm's) does: a chart archive redirected to a storage host
    gets no credentials."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        """The redirected request; credentials go along only to the same origin."""
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        credentials = req.unredirected_hdrs.get("Authorization")
        same_origin = urlsplit(newurl)[:2] == urlsplit(req.full_url)[:2]
        if new is not None and credentials is not None and same_origin:
            new.add_unredirected_header("Authorization", credentials)
        return new


def tls_context(access: RepositoryAccess) -> ssl.SSLContext | None:
    """How Python's HTTP client verifies the repository (None: against the system roots)."""
    if access.insecure_skip_tls_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if access.ca_bundle is not None:
        return ssl.create_default_context(cadata=access.ca_bundle.decode())
    return None


def _decoded(secret: Mapping[str, Any], refuse: Any) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[str(key)] = base64.b64decode(str(value), validate=True)
        except binascii.Error:
            raise refuse(f"key {key!r} is not base64") from None
    for key, value in (secret.get("stringData") or {}).items():
        data[str(key)] = str(value).encode()
    return data


def _text(value: bytes, key: str, refuse: Any) -> str:
    try:
        text = value.decode().strip("\r\n")
    except UnicodeDecodeError:
        raise refuse(f"key {key!r} is not UTF-8 text") from None
    if not text:
        raise refuse(f"key {key!r} is empty")
    return text


def _check_docker_config(value: bytes, refuse: Any) -> None:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise refuse(f"key {DOCKER_CONFIG!r} is not JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("auths"), dict):
        raise refuse(f"key {DOCKER_CONFIG!r} has no 'auths' map")


def _docker_auths(value: bytes) -> dict[str, dict[str, Any]]:
    try:
        auths = json.loads(value).get("auths") or {}
    except (ValueError, AttributeError):
        return {}
    return {str(k): v for k, v in auths.items() if isinstance(v, dict)}


def _auth_entries(value: bytes) -> list[dict[str, Any]]:
    return list(_docker_auths(value).values())


def _registry_host(key: str) -> str:
    """``https://host:5000/v1/`` or ``host:5000`` → ``host:5000``, as Docker matches them."""
    return urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
