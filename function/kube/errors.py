"""Mapping HTTP failures of the Kubernetes API into `function.errors` types — once, here.

The API answers failures with a ``Status`` object (``reason``, ``message``, ``code``); the
transport fails with urllib3 exceptions. Both become one of the `KubeError` subclasses so that
callers branch on the kind of failure, never on status codes or foreign exception types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from function.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    KubeError,
    NotFoundError,
    UnavailableError,
)

_BY_STATUS: dict[int, type[KubeError]] = {
    400: InvalidError,
    401: ForbiddenError,
    403: ForbiddenError,
    404: NotFoundError,
    405: InvalidError,
    409: ConflictError,
    410: GoneError,
    415: InvalidError,
    422: InvalidError,
    429: UnavailableError,
}


def error_from_status(
    status: int, body: bytes | Mapping[str, Any], headers: Mapping[str, str], *, what: str
) -> KubeError:
    """The error for an HTTP failure ``status`` with a Status ``body``, about ``what``."""
    doc = _status_document(body)
    reason = str(doc.get("reason") or "")
    message = str(doc.get("message") or "") or reason or f"HTTP {status}"
    cls = _BY_STATUS.get(status) or (UnavailableError if status >= 500 else KubeError)
    return cls(
        f"{what}: {message}",
        status=status,
        reason=reason,
        retry_after=_retry_after(headers),
    )


def unavailable(exc: BaseException, *, what: str) -> UnavailableError:
    """The error for a request that got no HTTP answer (refused, reset, timed out)."""
    return UnavailableError(f"{what}: {type(exc).__name__}: {exc}")


def _status_document(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return {"message": body[:200].decode(errors="replace").strip()}
    return doc if isinstance(doc, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
