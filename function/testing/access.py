"""Authentication and, when switched on, deny-by-default RBAC for one emulated cluster.

Off by default: every request is served, whatever its credentials (the emulator's historical
behaviour, which most tests rely on). `Access.enable_rbac` turns on kube-apiserver's model:
the bearer token names a user (`tokens`: the kubeconfig's default token is ``system:admin`` in
``system:masters``; `EmulatedCluster.kubeconfig` with ``service_account=`` issues a service
account's token), a request without one is ``system:anonymous``, an unknown token is 401, and
every request is authorized by `rbac.Policy` against the RBAC objects stored in the cluster
itself — apply the install manifests to it. The policy is rebuilt after any RBAC object
changes (at once, where the real aggregation controller and authorizer cache lag a little).
Denials answer 403 with kube-apiserver's `Status` and are kept in `denied` for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from function.testing import rbac
from function.testing.rbac import ADMIN, ANONYMOUS, Policy, RequestAttributes, User
from function.testing.resources import ResourceType
from function.testing.store import Event, Store, Stored

DEFAULT_TOKEN = "emulator"
"""The token of `EmulatedCluster.kubeconfig` without a service account: ``system:admin``."""


@dataclass(frozen=True, slots=True)
class Denial:
    """A request RBAC refused: who asked, what for, and the message sent back."""

    user: str
    attributes: RequestAttributes
    message: str


class Access:
    """Who a request is, and whether it may proceed."""

    def __init__(self, store: Store) -> None:
        self.enabled = False
        self.tokens: dict[str, User] = {DEFAULT_TOKEN: ADMIN}
        self._store = store
        self._policy: Policy | None = None
        self._denied: list[Denial] = []
        self._lock = threading.Lock()
        store.listeners.append(self._changed)

    def enable_rbac(self, enabled: bool = True) -> None:
        """Switch deny-by-default RBAC on (or off again)."""
        self.enabled = enabled
        self._policy = None

    def issue_token(self, user: User) -> str:
        """A bearer token that authenticates as ``user``."""
        token = f"emulator:{user.name}"
        self.tokens[token] = user
        return token

    @property
    def denied(self) -> list[Denial]:
        """Every request refused so far, oldest first (thread-safe copy)."""
        with self._lock:
            return list(self._denied)

    def check(self, method: str, path: str, query: Mapping[str, str], authorization: str) -> None:
        """Raise the `StatusError` kube-apiserver would send, or return when allowed."""
        if not self.enabled:
            return
        user = self._authenticate(authorization)
        attrs = rbac.request_attributes(method, path, query)
        if self._current().allows(user, attrs):
            return
        error = rbac.forbidden(user, attrs)
        with self._lock:
            self._denied.append(Denial(user.name, attrs, error.message))
        raise error

    def _authenticate(self, authorization: str) -> User:
        scheme, _, token = authorization.partition(" ")
        if not token:
            return ANONYMOUS
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise rbac.unauthorized()
        return user

    def _current(self) -> Policy:
        policy = self._policy
        if policy is None:
            objects = [
                stored.obj for resource in rbac.RBAC_RESOURCES for stored in self._objects(resource)
            ]
            policy = self._policy = Policy.from_objects(objects)
        return policy

    def _objects(self, resource: str) -> list[Stored]:
        found = self._store.resources.get((rbac.RBAC_GROUP, resource))
        return list(found.objects.values()) if found is not None else []

    def _changed(self, resource_type: ResourceType, event: Event) -> None:
        if resource_type.group == rbac.RBAC_GROUP:
            self._policy = None


__all__ = ["DEFAULT_TOKEN", "Access", "Denial"]
