"""Secrets read in named namespaces only, end to end under the emulator's deny-by-default RBAC:
the install's per-namespace Roles (`examples/install/secret-namespaces/`) and the
``--secret-namespaces`` its runtime config passes. A cluster whose kubeconfig Secret is in an
allowed namespace converges, with a private chart whose credentials Secret is there too; one
in any other namespace is refused with a status message naming the namespace and the flag, a
``Synced=False`` condition, a Warning event and a log line; no Secret is ever listed, watched
or read outside the allowed namespaces, and RBAC denies nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from function.reconciler.leader import LeaseSettings
from function.reconciler.secretscope import SecretScope
from tests.install.test_commands import argv, dry_parse
from tests.install.test_secret_namespaces import NAMESPACED_RUNTIME_CONFIG, sidecar
from tests.reconciler.harness import (
    BUNDLE_API,
    NAMESPACE,
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    eventually,
    is_ready,
    running,
)
from tests.reconciler.private_repos import USERNAME, TlsChartRepo
from tests.reconciler.test_loop_failures import logged
from tests.reconciler.test_loop_private_charts import credentials, nfd

Obj = dict[str, Any]
OUTSIDE = "team-c"
REASON = "SecretNamespaceNotAllowed"


def shipped_scope(monkeypatch: pytest.MonkeyPatch) -> SecretScope:
    """The scope the shipped namespaced runtime config gives the sidecar, as the CLI parses it."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("AIFLEET_SECRET_NAMESPACES", raising=False)
    _, ctx = dry_parse(argv(sidecar(NAMESPACED_RUNTIME_CONFIG))[1:])
    return SecretScope.of(ctx.params["secret_namespaces"])


def outside(obj: Obj) -> Obj:
    """The same object, in the namespace outside ``--secret-namespaces``."""
    return {**obj, "metadata": {**obj["metadata"], "namespace": OUTSIDE}}


async def test_secrets_are_read_only_in_the_namespaces_of_the_flag(
    tls_chart_repo: TlsChartRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    scope = shipped_scope(monkeypatch)
    assert scope.namespaces is not None and NAMESPACE in scope.namespaces
    assert OUTSIDE not in scope.namespaces
    lease = LeaseSettings("crossplane-system", "r1")
    ca = tls_chart_repo.tls.ca_pem
    private = nfd("private", tls_chart_repo.url, credentialsSecretRef={"name": "repo"})
    async with running(tmp_path, lease=lease, rbac="secret-namespaces", secret_scope=scope) as h:
        h.mgmt.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OUTSIDE}})
        h.mgmt.create(
            credentials("repo", username=USERNAME, password=tls_chart_repo.password, ca_dot_crt=ca)
        )
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a"), private]), field_manager="test")
        h.mgmt.apply(outside(capi_cluster("c9")), field_manager="test")
        h.mgmt.apply(
            outside(
                bundle(
                    "stack",
                    [configmap_addon("a")],
                    clusterRef={
                        "apiVersion": "cluster.x-k8s.io/v1beta2",
                        "kind": "Cluster",
                        "name": "c9",
                    },
                )
            ),
            field_manager="test",
        )

        # Allowed: the cluster converges, the private chart with it.
        got = await h.wait_bundle("stack", is_ready, within=30)
        assert addon_phases(got) == {"a": "Healthy", "private": "Healthy"}
        workload = h.workload("c1")
        assert workload.get("v1", "ConfigMap", "a", "apps")["data"]["value"] == "v1"
        assert workload.find(
            "apps/v1", "DaemonSet", "private-node-feature-discovery-worker", "private"
        )

        # Outside: refused, visibly, with its true cause.
        found: list[Obj] = []

        def refused() -> bool:
            obj = h.mgmt.find(BUNDLE_API, "AddonBundle", "stack", OUTSIDE)
            found[:] = [obj] if obj else []
            clusters = ((obj or {}).get("status") or {}).get("clusters") or []
            return bool(clusters) and clusters[0]["addons"][0].get("reason") == REASON

        await eventually(refused, within=15, what="the refusal", last=found)
        status = found[0]["status"]["clusters"][0]["addons"][0]
        message = status["message"]
        assert f"kubeconfig Secret {OUTSIDE}/c9-kubeconfig" in message
        assert f"namespace '{OUTSIDE}', outside --secret-namespaces" in message
        assert "unreachable" not in message
        synced = condition(found[0], "Synced")
        assert (synced["status"], synced["reason"]) == ("False", REASON)
        assert not is_ready(found[0])

        def warnings() -> list[Obj]:
            return [
                e
                for e in h.mgmt.list("v1", "Event", namespace=OUTSIDE)
                if e["type"] == "Warning" and e["reason"] == REASON
            ]

        await eventually(lambda: bool(warnings()), within=5, what="the Warning event")
        assert warnings()[0]["message"].endswith(message)
        assert message in logged(caplog, REASON)
        assert h.mgmt.find("v1", "Secret", "c9-kubeconfig", OUTSIDE) is not None  # it is there

    assert [d.message for d in h.mgmt.rbac_denials] == []
    secret_requests = h.mgmt.requests.filter(kind="Secret")
    assert {(r.verb, r.namespace) for r in secret_requests if r.verb in ("list", "watch")} == {
        (verb, namespace) for verb in ("list", "watch") for namespace in scope.namespaces
    }
    assert {r.namespace for r in secret_requests} <= scope.namespaces  # never cluster-wide


async def test_without_the_flag_secrets_are_watched_cluster_wide(tmp_path: Path) -> None:
    async with running(tmp_path, rbac=True) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")]), field_manager="test")
        await h.wait_bundle("stack", is_ready)
    assert [d.message for d in h.mgmt.rbac_denials] == []
    watched = {
        r.namespace for r in h.mgmt.requests.filter(kind="Secret") if r.verb in ("list", "watch")
    }
    assert watched == {""}
