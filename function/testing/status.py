"""`metav1.Status` failures, as the emulator raises and serves them.

Every refusal inside the emulator is an `StatusError`: `server` turns it into the JSON `Status`
body kube-apiserver would send (same `code`, `reason`, `message` and `details`), and `cluster`
maps it once into the project's own error tree (`function.errors`) for in-process callers.
Messages follow kube-apiserver's wording so that clients that match on them keep working.
"""

from __future__ import annotations

import json
from typing import Any

from function import errors


class StatusError(Exception):
    """A failed request: HTTP ``code``, Status ``reason``, ``message`` and optional ``details``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The `Status` object kube-apiserver sends for this failure."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:  # kube-apiserver sends `"details": {}` on some refusals
            status["details"] = self.details
        return status

    def to_bytes(self) -> bytes:
        """The JSON body."""
        return json.dumps(self.body(), separators=(",", ":")).encode()

    def to_project_error(self) -> errors.KubeError:
        """The matching class of `function.errors`, for callers that bypass HTTP."""
        kind: type[errors.KubeError]
        match self.code:
            case 404:
                kind = errors.NotFoundError
            case 409:
                kind = errors.ConflictError
            case 410:
                kind = errors.GoneError
            case 400 | 415 | 422:
                kind = errors.InvalidError
            case 401 | 403:
                kind = errors.ForbiddenError
            case _:
                kind = errors.UnavailableError
        return kind(
            self.message, status=self.code, reason=self.reason, retry_after=self.retry_after
        )


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": resource}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` / ``configmaps``: how kube-apiserver names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    """404: the named object does not exist."""
    return StatusError(
        404,
        "NotFound",
        f'{qualified(resource, group)} "{name}" not found',
        _details(resource, group, name),
    )


def already_exists(resource: str, group: str, name: str) -> StatusError:
    """409: create of a name that is taken."""
    return StatusError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        _details(resource, group, name),
    )


def conflict(resource: str, group: str, name: str, why: str) -> StatusError:
    """409: a write lost a race or failed a precondition."""
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(resource, group, name),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(kind: str, group: str, name: str, field: str, message: str) -> StatusError:
    """422: the object breaks a rule; one cause naming the field."""
    qualified_kind = f"{kind}.{group}" if group else kind
    return StatusError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {field}: {message}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        },
    )


def bad_request(message: str) -> StatusError:
    """400: the request itself is malformed."""
    return StatusError(400, "BadRequest", message)


def forbidden(resource: str, group: str, name: str, why: str) -> StatusError:
    """403: refused by policy (a terminating namespace)."""
    return StatusError(
        403,
        "Forbidden",
        f'{qualified(resource, group)} "{name}" is forbidden: {why}',
        _details(resource, group, name),
    )


def method_not_allowed(message: str) -> StatusError:
    """405: the verb is not served on this path."""
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    """415: a patch type the resource does not accept."""
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got {content_type})",
    )


def gone(requested: int, oldest: int) -> StatusError:
    """410: a watch asked for history the server no longer keeps."""
    return StatusError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def too_many_requests(retry_after: int) -> StatusError:
    """429: throttled; `Retry-After` says when to come back."""
    return StatusError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        {"retryAfterSeconds": retry_after},
        retry_after=retry_after,
    )


def internal_error(message: str) -> StatusError:
    """500: the server failed."""
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def from_code(code: int, message: str, retry_after: int | None = None) -> StatusError:
    """An injected failure with the reason kube-apiserver uses for that status code."""
    if code == 429:
        return too_many_requests(retry_after if retry_after is not None else 1)
    reasons = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    return StatusError(code, reasons.get(code, "Unknown"), message, retry_after=retry_after)
