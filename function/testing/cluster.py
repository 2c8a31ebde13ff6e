"""One emulated cluster as tests see it: its address, kubeconfig and in-process helpers.

An `EmulatedCluster` bundles a cluster's `apiserver.ApiServer`, its HTTP `server.ClusterServer`
and its `simulation.Simulation`. Clients reach it over HTTP through `url` / `kubeconfig()`;
tests also use the helpers here (`create`, `apply`, `get`, `list`, `patch`, `patch_status`,
`update`, `delete`, `wait_for`, ...) to seed objects and to read what a client wrote. The
helpers bypass HTTP but run the very same verbs on the fleet's loop, so they share the store,
the resourceVersion sequence, the watch events and the write log, and they are safe to call
from any thread. Refusals surface as the project's own errors (`function.errors.NotFoundError`,
`ConflictError`, ...), mapped once here from the emulator's `status.StatusError`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from function.testing import rbac
from function.testing.access import DEFAULT_TOKEN, Denial
from function.testing.apiserver import ApiServer
from function.testing.faults import Faults
from function.testing.selectors import parse_field_selector, parse_label_selector
from function.testing.server import ClusterServer
from function.testing.simulation import Simulation, default_rules
from function.testing.status import StatusError
from function.testing.store import Stored
from function.testing.targets import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    DeleteOptions,
    Target,
    WriteOptions,
)
from function.testing.values import copy
from function.testing.writelog import RequestLog, WriteLog

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from function.testing.fleet import Fleet

T = TypeVar("T")
Obj = dict[str, Any]
PATCH_TYPES = {"merge": MERGE, "json": JSON_PATCH, "strategic": STRATEGIC, "apply": APPLY}
DEFAULT_MANAGER = "emulator"


def _own(stored: Stored) -> Obj:
    """A private copy of a stored object for the caller."""
    result: Obj = copy(stored.obj)
    return result


class EmulatedCluster:
    """A simulated Kubernetes cluster of a `Fleet` (create it with `Fleet.add_cluster`)."""

    def __init__(self, fleet: Fleet, name: str, simulation: bool | frozenset[str]) -> None:
        self.fleet = fleet
        self.name = name
        self.api = ApiServer(history_limit=fleet.watch_history)
        self.server = ClusterServer(self.api, fleet.server_settings, fleet.call)
        self.simulation = Simulation(
            self.api,
            name,
            fleet,
            default_rules(),
            (lambda rule: simulation) if isinstance(simulation, bool) else simulation.__contains__,
            fleet.simulation_delay,
        )
        self.decommissioned = False

    def __repr__(self) -> str:
        return f"<EmulatedCluster {self.name} {self.url}>"

    # -- where it is ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def online(self) -> bool:
        """Whether the API server accepts connections."""
        return self.server.online

    def kubeconfig(self, name: str | None = None, *, service_account: str | None = None) -> Obj:
        """A kubeconfig for this cluster (``name`` names its cluster, user and context).

        Works with `kubernetes.config.new_client_from_config_dict` and, as YAML, with kubectl.
        Names follow Cluster API's kubeconfig Secrets: ``<name>-admin@<name>``. Its token is
        ``system:admin``'s; with ``service_account="<namespace>/<name>"`` it is that service
        account's, which `enable_rbac` then holds to the cluster's RBAC objects.
        """
        name = name or self.name
        user, context = f"{name}-admin", f"{name}-admin@{name}"
        token = DEFAULT_TOKEN
        if service_account is not None:
            namespace, _, account = service_account.partition("/")
            if not namespace or not account:
                raise ValueError(f"service_account must be <namespace>/<name>: {service_account!r}")
            token = self.server.access.issue_token(rbac.service_account(namespace, account))
            user = f"{namespace}-{account}"
            context = f"{user}@{name}"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": name, "user": user}}],
            "current-context": context,
            "preferences": {},
        }

    def kubeconfig_yaml(self, name: str | None = None) -> str:
        """`kubeconfig` as YAML text."""
        return yaml.safe_dump(self.kubeconfig(name), sort_keys=False)

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write `kubeconfig_yaml` to a file and return its path."""
        target = Path(path)
        target.write_text(self.kubeconfig_yaml())
        return target

    def api_client(self) -> ApiClient:
        """A `kubernetes.client.ApiClient` talking to this cluster."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config_dict(self.kubeconfig())
        return client

    # -- what happened -------------------------------------------------------------------------

    @property
    def writes(self) -> WriteLog:
        """Effective writes (see `writelog.WriteLog`)."""
        return self.api.writes

    @property
    def requests(self) -> RequestLog:
        """Answered HTTP requests (see `writelog.RequestLog`)."""
        return self.server.requests

    def enable_rbac(self, enabled: bool = True) -> None:
        """Authorize every HTTP request against the Roles, ClusterRoles and bindings stored in
        this cluster, denying what none grants (the in-process helpers are not checked)."""
        self.server.access.enable_rbac(enabled)

    @property
    def rbac_denials(self) -> builtins.list[Denial]:
        """The requests RBAC refused, oldest first (see `enable_rbac`)."""
        return self.server.access.denied

    @property
    def faults(self) -> Faults:
        """Fault injection (see `faults.Faults`)."""
        return self.server.faults

    @property
    def resource_version(self) -> int:
        """The cluster's current resourceVersion."""
        return self._run(lambda api: api.store.rv)

    # -- in-process helpers ---------------------------------------------------------------------

    def _run(self, fn: Callable[[ApiServer], T]) -> T:
        def call() -> T:
            try:
                return fn(self.api)
            except StatusError as error:
                raise error.to_project_error() from error

        return self.fleet.call(call)

    @staticmethod
    def _target(api: ApiServer, obj: Obj, name: str | None = None, subresource: str = "") -> Target:
        metadata = obj.get("metadata") or {}
        return api.target(
            obj["apiVersion"],
            obj["kind"],
            metadata.get("namespace") or "default",
            name,
            subresource,
        )

    def create(self, obj: Obj, *, field_manager: str = DEFAULT_MANAGER) -> Obj:
        """Create an object (POST semantics: 409 if it exists)."""
        options = WriteOptions(field_manager)
        return self._run(lambda api: _own(api.create(self._target(api, obj), obj, options)))

    def apply(
        self,
        obj: Obj,
        *,
        field_manager: str = DEFAULT_MANAGER,
        force: bool = False,
        subresource: str = "",
    ) -> Obj:
        """Server-side apply an object as ``field_manager``."""
        options = WriteOptions(field_manager, force=force)

        def apply(api: ApiServer) -> Obj:
            target = self._target(api, obj, obj["metadata"]["name"], subresource)
            return _own(api.patch(target, APPLY, obj, options)[0])

        return self._run(apply)

    def apply_manifests(
        self, documents: str | Iterable[Obj], *, field_manager: str = DEFAULT_MANAGER
    ) -> builtins.list[Obj]:
        """Server-side apply every object of a YAML stream (or of a list of dicts), in order."""
        if isinstance(documents, str):
            documents = [d for d in yaml.safe_load_all(documents) if d]
        return [self.apply(doc, field_manager=field_manager) for doc in documents]

    def update(
        self, obj: Obj, *, field_manager: str = DEFAULT_MANAGER, subresource: str = ""
    ) -> Obj:
        """Replace an object (PUT semantics: 409 when its resourceVersion is stale)."""

        def update(api: ApiServer) -> Obj:
            target = self._target(api, obj, obj["metadata"]["name"], subresource)
            return _own(api.update(target, obj, WriteOptions(field_manager)))

        return self._run(update)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        """An object (raises `function.errors.NotFoundError`)."""
        return self._run(lambda api: _own(api.get(api.target(api_version, kind, namespace, name))))

    def find(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        """An object, or None when it does not exist."""

        def find(api: ApiServer) -> Obj | None:
            found = api.find(api.target(api_version, kind, namespace, name))
            return None if found is None else _own(found)

        return self._run(find)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> builtins.list[Obj]:
        """Objects of a kind (in a namespace, or all), filtered by selectors, in key order."""

        def list_objects(api: ApiServer) -> builtins.list[Obj]:
            target = api.target(api_version, kind, namespace)
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector, target.resource_type.field_selectors)
            return [_own(s) for s in api.list_objects(target, labels, fields).items]

        return self._run(list_objects)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str = "",
        field_manager: str = DEFAULT_MANAGER,
    ) -> Obj:
        """Patch an object: ``patch_type`` is ``merge``, ``json`` or ``strategic``."""
        content_type = PATCH_TYPES[patch_type]

        def patch_object(api: ApiServer) -> Obj:
            target = api.target(api_version, kind, namespace, name, subresource)
            return _own(api.patch(target, content_type, patch, WriteOptions(field_manager))[0])

        return self._run(patch_object)

    def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        status: Obj,
        *,
        namespace: str | None = None,
        field_manager: str = DEFAULT_MANAGER,
    ) -> Obj:
        """Merge ``status`` into an object's status (through `/status` when the kind has it)."""

        def patch_status(api: ApiServer) -> Obj:
            target = api.target(api_version, kind, namespace, name)
            if target.resource_type.status_subresource:
                target = api.target(api_version, kind, namespace, name, "status")
            stored, _ = api.patch(target, MERGE, {"status": status}, WriteOptions(field_manager))
            return _own(stored)

        return self._run(patch_status)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "Background",
    ) -> None:
        """Delete an object (it lingers with a deletionTimestamp while it has finalizers)."""
        options = DeleteOptions(
            field_manager=DEFAULT_MANAGER, propagation_policy=propagation_policy
        )
        self._run(lambda api: api.delete(api.target(api_version, kind, namespace, name), options))

    def wait_for(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        until: Callable[[Obj], bool] = lambda obj: True,
        timeout: float = 10.0,
    ) -> Obj:
        """Poll until the object exists and ``until(obj)`` holds; raise `TimeoutError` if not."""
        deadline = time.monotonic() + timeout
        seen: Obj | None = None
        while time.monotonic() < deadline:
            seen = self.find(api_version, kind, name, namespace)
            if seen is not None and until(seen):
                return seen
            time.sleep(0.005)
        raise TimeoutError(f"{kind} {namespace or ''}/{name} in {self.name}: last seen {seen!r}")

    def wait_gone(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        """Poll until the object no longer exists; raise `TimeoutError` if it stays."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.find(api_version, kind, name, namespace) is None:
                return
            time.sleep(0.005)
        raise TimeoutError(f"{kind} {namespace or ''}/{name} still exists in {self.name}")
