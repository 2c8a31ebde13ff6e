"""Reading a request to an emulated cluster: its path into a `Route`, its query and body into
options.

kube-apiserver's URL grammar (``/api/v1/namespaces/<ns>/<plural>/<name>/status``,
``/apis/<group>/<version>/<plural>``, the discovery paths) and its parameters (``watch``,
``dryRun``, ``fieldManager``, ``force``, ``propagationPolicy``, DeleteOptions bodies, JSON or
YAML objects) are read here, against the cluster's `resources.Registry`, into the `Route`,
`targets.Target` and options that `server.ClusterServer` hands to `apiserver.ApiServer`; what
cannot be read raises the `StatusError` kube-apiserver would answer. Nothing here holds state:
the server keeps the listener, the connections and the watches, and writes the responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from function.testing import discovery
from function.testing.faults import RequestInfo
from function.testing.resources import Registry
from function.testing.status import StatusError, bad_request, method_not_allowed
from function.testing.targets import APPLY, DeleteOptions, Target, WriteOptions

_NOT_FOUND = StatusError(404, "NotFound", "the server could not find the requested resource")


@dataclass(frozen=True, slots=True)
class Route:
    """A parsed request: either a discovery document or a verb on a target."""

    verb: str
    target: Target | None = None
    document: dict[str, Any] | None = None


def route_of(request: web.BaseRequest, registry: Registry, port: int) -> Route:
    """What ``request`` asks for, from its method, path and query (``port``: where the
    cluster listens, which the core discovery document names); `StatusError` 404 or 405 when
    nothing is served there."""
    parts = [p for p in request.path.split("/") if p]
    if parts == ["version"]:
        return Route("discovery", document=discovery.version_info())
    if parts == ["api"]:
        return Route("discovery", document=discovery.core_versions(f"127.0.0.1:{port}"))
    if parts == ["apis"]:
        return Route("discovery", document=discovery.group_list(registry))
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) == 2 and parts[0] == "apis":
        document = discovery.group(registry, parts[1])
        if document is None:
            raise _NOT_FOUND
        return Route("discovery", document=document)
    else:
        raise _NOT_FOUND
    if not rest:
        document = discovery.resource_list(registry, group, version)
        if document is None:
            raise _NOT_FOUND
        return Route("discovery", document=document)
    target = _target(registry, group, version, rest)
    return Route(_verb(request, target), target)


def _target(registry: Registry, group: str, version: str, rest: list[str]) -> Target:
    if len(rest) >= 3 and rest[0] == "namespaces":
        found = registry.resolve(group, version, rest[2])
        if found is not None and found.namespaced and len(rest) <= 5:
            subresource = rest[4] if len(rest) == 5 else ""
            name = rest[3] if len(rest) >= 4 else None
            return _checked(Target(found, version, rest[1], name, subresource))
    found = registry.resolve(group, version, rest[0])
    if found is None or len(rest) > 3:
        raise _NOT_FOUND
    name = rest[1] if len(rest) >= 2 else None
    if found.namespaced and name is not None:
        raise _NOT_FOUND
    return _checked(Target(found, version, None, name, rest[2] if len(rest) == 3 else ""))


def _checked(target: Target) -> Target:
    if target.subresource and not (
        target.subresource == "status" and target.resource_type.status_subresource
    ):
        raise _NOT_FOUND
    return target


def _verb(request: web.BaseRequest, target: Target) -> str:
    method = request.method
    watching = flag(request.query.get("watch"))
    if method == "GET":
        if watching:
            return "watch"
        return "get" if target.name else "list"
    if method == "POST" and target.name is None:
        return "create"
    if method == "PUT" and target.name:
        return "update"
    if method == "PATCH" and target.name:
        return "apply" if request.content_type == APPLY else "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise method_not_allowed(
        f"the server does not allow this method on the requested resource ({method})"
    )


def request_info(route: Route) -> RequestInfo:
    """What `faults.Faults` judges a request by and the request log records."""
    target = route.target
    if target is None:
        return RequestInfo(route.verb, "", "", "")
    return RequestInfo(
        route.verb, target.resource_type.kind, target.namespace or "", target.name or ""
    )


def flag(value: str | None) -> bool:
    """A boolean query parameter: ``true`` or ``1``."""
    return value is not None and value.lower() in ("1", "true")


def integer(value: str | None, name: str) -> int:
    """An integer query parameter (0 when absent); 400 when it is not one."""
    if not value:
        return 0
    try:
        return int(value)
    except ValueError as err:
        raise bad_request(f"invalid {name}: {value!r}") from err


def _dry_run(request: web.BaseRequest) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f"Invalid dry run value: {value!r}; only 'All' is supported")
    return bool(values)


def write_options(request: web.BaseRequest) -> WriteOptions:
    """A create's, update's or patch's options; the field manager defaults to the client's
    User-Agent name but for an apply, which must name one."""
    manager = request.query.get("fieldManager")
    if manager is None and request.content_type != APPLY:
        manager = request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
    return WriteOptions(
        field_manager=manager or "",
        dry_run=_dry_run(request),
        force=flag(request.query.get("force")),
    )


async def read_body(request: web.BaseRequest) -> Any:
    """The object a write sends, as JSON (or YAML when the content type says so)."""
    raw = await request.read()
    if not raw:
        raise bad_request("the request body is empty")
    try:
        return json.loads(raw)
    except ValueError:
        pass
    if "yaml" not in request.content_type:
        raise bad_request("the request body is not valid JSON")
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise bad_request(f"the request body is not valid YAML: {err}") from err


async def delete_options(request: web.BaseRequest) -> DeleteOptions:
    """A delete's options, from its DeleteOptions body and its query."""
    raw = await request.read()
    body: dict[str, Any] = {}
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as err:
            raise bad_request("DeleteOptions must be JSON") from err
    preconditions = body.get("preconditions") or {}
    policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    if policy is None and (
        body.get("orphanDependents") or flag(request.query.get("orphanDependents"))
    ):
        policy = "Orphan"
    return DeleteOptions(
        field_manager=request.headers.get("User-Agent", "unknown").split("/")[0],
        dry_run=_dry_run(request) or "All" in (body.get("dryRun") or []),
        propagation_policy=policy or "Background",
        uid=preconditions.get("uid"),
        resource_version=preconditions.get("resourceVersion"),
    )
