"""The sharded install: N reconciler replicas outside the function pod, parsed by the real
command line, with the Lease permissions sharding needs."""

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from function.reconciler.cli import _shards
from tests.install.test_commands import argv, dry_parse

MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "install" / "reconciler-sharded.yaml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def test_the_replicas_run_reconcile_with_shards_and_may_list_leases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    docs = _docs()
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    name, ctx = dry_parse(argv(container)[1:])
    assert name == "reconcile"
    assert ctx.params["shard_count"] == 8
    assert not ctx.params["leader_elect"]  # shards replace the single leader
    account = pod["serviceAccountName"]
    role = next(d for d in docs if d["kind"] == "Role")
    (rule,) = role["rules"]
    assert rule["resources"] == ["leases"]
    assert {"get", "list", "create", "update"} <= set(rule["verbs"])
    bound = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert {b["roleRef"]["name"] for b in bound} == {role["metadata"]["name"], "aifleet-reconciler"}
    for binding in bound:
        assert binding["subjects"][0]["name"] == account


def test_a_shard_list_outside_the_count_is_refused_by_flag() -> None:
    with pytest.raises(click.BadParameter, match=r"shard 4 is outside 0\.\.3"):
        _shards(4, "1,4", "ns", "me", "aifleet-reconciler", 15.0)
    with pytest.raises(click.BadParameter, match="not a comma-separated list"):
        _shards(4, "one", "ns", "me", "aifleet-reconciler", 15.0)
    with pytest.raises(click.BadParameter, match="needs --shard-count"):
        _shards(0, "1", "ns", "me", "aifleet-reconciler", 15.0)
