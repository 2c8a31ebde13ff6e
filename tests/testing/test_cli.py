"""`python -m function.testing`: the command line serves clusters and writes kubeconfigs."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from function.testing.cli import emulator


def test_cli_starts_clusters_and_writes_kubeconfigs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        emulator,
        [
            "--clusters",
            "2",
            "--management",
            "mgmt",
            "--kubeconfig-dir",
            str(tmp_path),
            "--duration",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    names = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert names == ["cluster-1", "cluster-2", "mgmt"]
    kubeconfig = yaml.safe_load((tmp_path / "mgmt.kubeconfig").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("http://127.0.0.1:")
    assert kubeconfig["current-context"] == "mgmt-admin@mgmt"
