"""The project's own error tree.

Foreign errors (pydantic, the `kubernetes` client, Jinja2, Helm, Lua) are mapped into these
classes once, at the seam where they enter, and chained with ``raise ... from``. Everything
above the seams catches only these.

    AifleetError
    ├── SpecError (ValueError) ............ a user's object is invalid; carries field errors
    ├── KubeError ......................... the Kubernetes API refused or failed a request
    │   ├── NotFoundError (KeyError)
    │   ├── ConflictError ................. stale resourceVersion, SSA field conflict, exists
    │   ├── GoneError ..................... a watch's resourceVersion is too old (410)
    │   ├── InvalidError (ValueError) ..... 400/422: the server rejected the object
    │   ├── ForbiddenError (PermissionError) 401/403
    │   │   └── SecretNamespaceError ...... a Secret outside the namespaces it may read
    │   └── UnavailableError .............. 5xx, 429, timeouts, connection refused: retry
    ├── RenderError ....................... a template or chart of an add-on failed to render
    │   ├── ChartError .................... a chart could not be fetched or verified
    │   │   └── ChartAccessError .......... credentials or TLS of a private repository
    │   └── ChartRenderError .............. a fetched chart failed to render (Helm's error)
    └── LuaError .......................... a Lua rule failed to load or run
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AifleetError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field: where it is (``spec.models[0].precision``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(AifleetError, ValueError):
    """A user-supplied object is invalid. Raised by `function.model` parsers and checks."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors: list[FieldError] = [errors] if isinstance(errors, FieldError) else errors
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def at(cls, path: str, message: str) -> SpecError:
        """Shorthand for a single field error."""
        return cls(FieldError(path, message))


class KubeError(AifleetError):
    """The Kubernetes API refused or failed a request.

    ``status`` is the HTTP status (0 when no response arrived), ``reason`` the Status
    reason (``NotFound``, ``Conflict``, ...), ``retry_after`` the server's hint in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class NotFoundError(KubeError, KeyError):
    """The object, its kind or its namespace does not exist (404)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(KubeError):
    """A write lost a race (stale resourceVersion), already exists, or conflicts on fields."""


class GoneError(KubeError):
    """A watch or list asked for a resourceVersion the server no longer has (410)."""


class InvalidError(KubeError, ValueError):
    """The server rejected the request or object as malformed (400, 422)."""


class ForbiddenError(KubeError, PermissionError):
    """The credentials are missing or not allowed to do this (401, 403)."""


class SecretNamespaceError(ForbiddenError):
    """A Secret the reconciler was asked to read lies outside ``--secret-namespaces``: it is
    refused before any request, since its RBAC grants no read there either."""


class UnavailableError(KubeError):
    """The server is unreachable, overloaded or failing (5xx, 429, timeouts); retry later."""


@dataclass(frozen=True)
class SourceLocation:
    """Where in a user's text an error is: add-on, file (template or chart path), line."""

    addon: str
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"add-on {self.addon!r}"
        if self.file:
            where += f", {self.file}"
            if self.line is not None:
                where += f":{self.line}"
        return where


class RenderError(AifleetError):
    """A template, values file or chart of one add-on failed to render."""

    def __init__(self, location: SourceLocation, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


class ChartError(RenderError):
    """A chart could not be fetched or verified: unknown chart or version, digest mismatch,
    or an unreachable repository (``transient``: retrying may help)."""

    def __init__(self, location: SourceLocation, reason: str, *, transient: bool = False) -> None:
        super().__init__(location, reason)
        self.transient = transient


class ChartAccess(StrEnum):
    """Why a private chart repository could not be used, as `ChartAccessError` says."""

    CREDENTIALS = "credentials"
    """The credentials Secret is missing, lacks a key, or holds something unusable."""
    REFUSED = "refused"
    """The repository refused the credentials, or asked for some (HTTP 401/403)."""
    TLS = "tls"
    """The repository's TLS certificate could not be verified."""


class ChartAccessError(ChartError):
    """A chart repository's credentials or TLS failed: retrying cannot help until the
    Secret, the CA bundle or the repository changes. The reason never holds a credential."""

    def __init__(self, location: SourceLocation, reason: str, *, cause: ChartAccess) -> None:
        super().__init__(location, reason)
        self.cause = cause


class ChartRenderError(RenderError):
    """A chart was fetched but Helm could not render it (its templates or its values)."""


class LuaError(AifleetError):
    """A Lua rule failed to load, ran too long, used too much memory, or returned bad data."""

    def __init__(self, rule: str, reason: str, *, line: int | None = None) -> None:
        where = f"{rule}:{line}" if line is not None else rule
        super().__init__(f"lua {where}: {reason}")
        self.rule = rule
        self.reason = reason
        self.line = line
