"""Private chart repositories for the credential tests: made here, served on loopback.

- `make_tls` makes a CA and a certificate for ``127.0.0.1``/``localhost`` signed by it
  (`cryptography`), so a test can present the CA bundle — or withhold it.
- `TlsChartRepo` is python's ``http.server`` behind ``ssl``, serving packaged charts and their
  ``index.yaml`` only to requests with the right basic-auth credentials or bearer token;
  it records each request and whether it carried credentials. ``/hop/<file>`` redirects to
  ``/charts/<file>`` on the same host, ``/away/<file>`` to it on ``localhost``.
- `htpasswd_line` is what Debian's ``docker-registry`` reads for its ``htpasswd`` auth.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "fleet-puller"


@dataclass(frozen=True)
class Tls:
    """A CA certificate (PEM) and the server certificate and key files it signed."""

    ca_pem: bytes
    cert_file: Path
    key_file: Path


def make_tls(directory: Path) -> Tls:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aifleet test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tls(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


def htpasswd_line(username: str, password: str) -> str:
    """One bcrypt ``htpasswd`` line (what docker-registry's htpasswd auth accepts)."""
    return f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


@dataclass
class TlsChartRepo:
    """A chart repository over HTTPS that answers only authenticated requests."""

    url: str
    """``https://127.0.0.1:<port>/charts``."""
    port: int
    directory: Path
    tls: Tls
    password: str
    token: str
    requests: list[tuple[str, bool]] = field(default_factory=list)
    """``(path, carried valid credentials)`` of every request served."""


class _AuthenticatingHandler(http.server.SimpleHTTPRequestHandler):
    repo: TlsChartRepo

    def do_GET(self) -> None:
        for prefix, origin in (("/hop/", ""), ("/away/", f"https://localhost:{self.repo.port}")):
            if self.path.startswith(prefix):  # a redirect, as to a storage host
                self.repo.requests.append((self.path, False))
                self.send_response(302)
                self.send_header("Location", f"{origin}/charts/{self.path.removeprefix(prefix)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        header = self.headers.get("Authorization", "")
        basic = base64.b64encode(f"{USERNAME}:{self.repo.password}".encode()).decode()
        allowed = header in (f"Basic {basic}", f"Bearer {self.repo.token}")
        self.repo.requests.append((self.path, allowed))
        if not allowed:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded, not printed."""


def serve_tls_repo(
    directory: Path, tls: Tls, password: str, token: str
) -> tuple[TlsChartRepo, http.server.ThreadingHTTPServer, threading.Thread]:
    """Serve ``directory`` (charts and index.yaml, also under ``/charts``) over HTTPS."""
    repo = TlsChartRepo("", 0, directory, tls, password, token)
    handler = type("Handler", (_AuthenticatingHandler,), {"repo": repo})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(directory))
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    repo.port = server.server_port
    repo.url = f"https://127.0.0.1:{repo.port}/charts"
    (directory / "charts").symlink_to(directory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return repo, server, thread
