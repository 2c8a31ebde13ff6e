"""Where the reconciler may read Secrets: everywhere, or only the namespaces of a flag (pure).

Every Secret the reconciler reads — a workload cluster's kubeconfig, an add-on's chart
credentials (``helm.credentialsSecretRef``), a ``manifestsFrom`` or ``templateResourceRefs``
Secret, a notification webhook's URL — lies in the namespace of a bundle, trigger or
cluster. With ``--secret-namespaces`` the install grants Secret reads in those namespaces
only (one Role and RoleBinding each), so the kubeconfig informer runs one namespaced
list+watch per namespace, and a Secret elsewhere is refused here, before any request, with
a `SecretNamespaceError` that names the namespace and the flag: the user sees why, not a
403 or a cluster that looks unreachable. Without the flag (the convenience default) Secrets
are watched cluster-wide and read anywhere the bundle's namespace allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from function.errors import SecretNamespaceError

FLAG = "--secret-namespaces"


@dataclass(frozen=True, slots=True)
class SecretScope:
    """The namespaces Secrets are read in; None means every namespace."""

    namespaces: frozenset[str] | None = None

    @classmethod
    def of(cls, namespaces: Iterable[str] | None) -> SecretScope:
        """The scope of a flag's values (each may itself be comma-separated); none: all."""
        if namespaces is None:
            return cls()
        names = frozenset(n.strip() for value in namespaces for n in value.split(",") if n.strip())
        return cls(names or None)

    @property
    def cluster_wide(self) -> bool:
        """Whether Secrets are read in every namespace."""
        return self.namespaces is None

    def watched(self) -> list[str | None]:
        """The namespaces a Secret informer runs in, sorted (``[None]``: cluster-wide)."""
        if self.namespaces is None:
            return [None]
        return [*sorted(self.namespaces)]

    def allows(self, namespace: str) -> bool:
        """Whether a Secret in ``namespace`` may be read."""
        return self.namespaces is None or namespace in self.namespaces

    def check(self, namespace: str, name: str, what: str) -> None:
        """Refuse reading ``what`` (e.g. "kubeconfig Secret") ``namespace/name`` outside the
        scope, with a message that says where the Secret is and what would allow it."""
        if self.allows(namespace):
            return
        assert self.namespaces is not None
        allowed = ", ".join(sorted(self.namespaces))
        raise SecretNamespaceError(
            f"{what} {namespace}/{name} is in namespace {namespace!r}, outside "
            f"{FLAG} ({allowed}): add {namespace!r} to {FLAG} and grant the reconciler "
            f"get/list/watch on secrets there",
            status=403,
            reason="Forbidden",
        )
