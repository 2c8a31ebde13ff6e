"""`SecretScope` refuses a Secret outside ``--secret-namespaces`` with a message naming the
namespace and the flag; namespaced informers of one kind share the `Store` without one relist
dropping another namespace's objects."""

import pytest

from function.errors import ForbiddenError, SecretNamespaceError
from function.reconciler.secretscope import SecretScope
from function.reconciler.store import GroupKind, Store

SECRET = GroupKind("", "Secret")


def secret(namespace: str, name: str, version: str = "1") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
    }


def test_a_secret_outside_the_namespaces_is_refused_naming_namespace_and_flag() -> None:
    scope = SecretScope.of(["team-b,team-a", " "])
    assert scope.namespaces == frozenset({"team-a", "team-b"})
    assert scope.watched() == ["team-a", "team-b"]
    scope.check("team-a", "c1-kubeconfig", "kubeconfig Secret")  # allowed: no error
    with pytest.raises(SecretNamespaceError) as caught:
        scope.check("team-c", "c9-kubeconfig", "kubeconfig Secret")
    assert str(caught.value) == (
        "kubeconfig Secret team-c/c9-kubeconfig is in namespace 'team-c', outside "
        "--secret-namespaces (team-a, team-b): add 'team-c' to --secret-namespaces and grant "
        "the reconciler get/list/watch on secrets there"
    )
    assert isinstance(caught.value, ForbiddenError) and caught.value.status == 403


def test_no_namespaces_is_cluster_wide() -> None:
    for scope in (SecretScope(), SecretScope.of(None), SecretScope.of([])):
        assert scope.cluster_wide
        assert scope.watched() == [None]
        scope.check("anywhere", "s", "Secret")


def test_a_namespaced_relist_replaces_its_own_namespace_only() -> None:
    store = Store()
    store.replace(SECRET, [secret("team-a", "a1"), secret("team-a", "a2")], "team-a")
    store.replace(SECRET, [secret("team-b", "b1")], "team-b")
    changed, deleted = store.replace(
        SECRET, [secret("team-a", "a1", "2"), secret("team-a", "a3")], "team-a"
    )
    assert sorted(o["metadata"]["name"] for o in changed) == ["a1", "a3"]
    assert [o["metadata"]["name"] for o in deleted] == ["a2"]
    names = sorted(o["metadata"]["name"] for o in store.list(SECRET))
    assert names == ["a1", "a3", "b1"]
    _, deleted = store.replace(SECRET, [], None)  # a cluster-wide relist replaces everything
    assert len(deleted) == 3
