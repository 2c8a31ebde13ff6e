"""The install's two forms of Secret reads agree with the reconciler's ``--secret-namespaces``:
by default one aggregated ClusterRole grants Secrets cluster-wide and the sidecar runs without
the flag; in `examples/install/secret-namespaces/` a Role and RoleBinding per namespace grant
them, no ClusterRole does, and the sidecar's flag (parsed by the real command line) names
exactly those namespaces, its runtime config otherwise the default one."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from function.reconciler.secretscope import SecretScope
from tests.install.test_commands import argv, dry_parse
from tests.install.test_rbac import grants, install_docs

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "examples" / "install"
NAMESPACED = INSTALL / "secret-namespaces"
NAMESPACED_RUNTIME_CONFIG = NAMESPACED / "runtime-config.yaml"
RUNTIME_CONFIG = INSTALL / "runtime-config.yaml"
SECRETS = ("", "secrets")
READ = {"get", "list", "watch"}

Obj = dict[str, Any]


def docs_of(*paths: Path) -> list[Obj]:
    return [d for path in paths for d in yaml.safe_load_all(path.read_text()) if d]


def namespaced_form() -> list[Obj]:
    """What the namespaced form applies: the Function, the core RBAC and the directory."""
    return docs_of(
        INSTALL / "function.yaml", INSTALL / "rbac.yaml", *sorted(NAMESPACED.glob("*.yaml"))
    )


def sidecar(path: Path) -> Obj:
    (doc,) = [d for d in docs_of(path) if d["kind"] == "DeploymentRuntimeConfig"]
    pod = doc["spec"]["deploymentTemplate"]["spec"]["template"]["spec"]
    found: Obj = next(c for c in pod["containers"] if c["name"] == "reconciler")
    return found


def scope_of(path: Path, monkeypatch: pytest.MonkeyPatch) -> SecretScope:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("AIFLEET_SECRET_NAMESPACES", raising=False)
    name, ctx = dry_parse(argv(sidecar(path))[1:])
    assert name == "reconcile"
    return SecretScope.of(ctx.params["secret_namespaces"] or None)


def secret_roles(docs: list[Obj], kind: str) -> list[Obj]:
    return [d for d in docs if d["kind"] == kind and SECRETS in grants(d.get("rules") or [], READ)]


def test_the_namespaced_form_grants_secrets_exactly_where_the_flag_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = namespaced_form()
    scope = scope_of(NAMESPACED_RUNTIME_CONFIG, monkeypatch)
    assert scope.namespaces  # a list, not cluster-wide
    roles = secret_roles(docs, "Role")
    assert {r["metadata"]["namespace"] for r in roles} == scope.namespaces
    account = {
        "kind": "ServiceAccount",
        "name": "function-aifleet",
        "namespace": "crossplane-system",
    }
    for role in roles:
        namespace, name = role["metadata"]["namespace"], role["metadata"]["name"]
        assert grants(role["rules"], set()) == {SECRETS}  # secrets only, read only
        assert all(set(rule["verbs"]) == READ for rule in role["rules"])
        (binding,) = [
            d
            for d in docs
            if d["kind"] == "RoleBinding"
            and d["metadata"]["namespace"] == namespace
            and d["roleRef"]
            == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        ]
        assert account in binding["subjects"]
    assert secret_roles(docs, "ClusterRole") == []
    for doc in docs:  # no cluster-wide Secret access of any verb
        if doc["kind"] == "ClusterRole":
            assert SECRETS not in grants(doc.get("rules") or [], set()), doc["metadata"]["name"]


def test_the_namespaced_runtime_config_differs_only_by_the_flag() -> None:
    (default,) = docs_of(RUNTIME_CONFIG)
    (namespaced,) = docs_of(NAMESPACED_RUNTIME_CONFIG)
    flagged = sidecar(NAMESPACED_RUNTIME_CONFIG)
    extra = [a for a in flagged["args"] if a.startswith("--secret-namespaces")]
    assert len(extra) == 1
    flagged["args"].remove(extra[0])
    pod = namespaced["spec"]["deploymentTemplate"]["spec"]["template"]["spec"]
    pod["containers"] = [flagged if c["name"] == "reconciler" else c for c in pod["containers"]]
    assert namespaced == default


def test_the_default_form_grants_secrets_cluster_wide_and_runs_without_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert scope_of(RUNTIME_CONFIG, monkeypatch).cluster_wide
    docs = install_docs()
    (role,) = secret_roles(docs, "ClusterRole")
    assert role["metadata"]["labels"] == {"aifleet.io/aggregate-to-reconciler": "true"}
    assert secret_roles(docs, "Role") == []


def test_the_flag_reads_a_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("AIFLEET_SECRET_NAMESPACES", "team-a team-b")
    _, ctx = dry_parse(["reconcile"])
    assert SecretScope.of(ctx.params["secret_namespaces"]).namespaces == frozenset(
        {"team-a", "team-b"}
    )
    monkeypatch.delenv("AIFLEET_SECRET_NAMESPACES")
    _, ctx = dry_parse(["reconcile", "--secret-namespaces=x,y", "--secret-namespaces", "z"])
    assert SecretScope.of(ctx.params["secret_namespaces"]).namespaces == frozenset({"x", "y", "z"})
    _, ctx = dry_parse(["reconcile"])
    assert SecretScope.of(ctx.params["secret_namespaces"] or None).cluster_wide
