"""`aifleet render` prints what `crossplane render` prints, and fails the way it fails."""

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from function.main import cli

ROOT = Path(__file__).parents[2]
H100 = str(ROOT / "examples" / "xrs" / "h100-kserve.yaml")


def render(*args: str) -> Result:
    return CliRunner().invoke(cli, ["render", *args])


def documents(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.output))


def test_prints_the_xr_then_composed_resources_sorted_by_name() -> None:
    xr, *composed = documents(render(H100))
    assert (xr["kind"], xr["metadata"]) == (
        "AIInferenceCluster",
        {"name": "llama-eu", "namespace": "team-a"},
    )
    assert xr["status"]["phase"] == "Provisioning"
    ready = xr["status"]["conditions"][0]
    assert ready == {
        "type": "Ready",
        "status": "False",
        "reason": "Creating",
        "message": "Unready resources: addon-bundle, cluster",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }
    assert [c["type"] for c in xr["status"]["conditions"]] == [
        "Ready",
        "ClusterReady",
        "AddonsReady",
    ]
    assert [d["metadata"]["annotations"] for d in composed] == [
        {"crossplane.io/composition-resource-name": "addon-bundle"},
        {"crossplane.io/composition-resource-name": "cluster"},
    ]
    bundle, cluster = composed
    assert cluster["metadata"]["generateName"] == "llama-eu-"
    assert cluster["metadata"]["labels"]["crossplane.io/composite"] == "llama-eu"
    assert cluster["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "aifleet.io/v1alpha1",
            "kind": "AIInferenceCluster",
            "name": "llama-eu",
            "uid": "",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert bundle["spec"]["clusterRef"]["name"] == cluster["metadata"]["name"]


def test_observed_ready_state_and_results() -> None:
    docs = documents(render(H100, "-o", str(ROOT / "examples/observed/ready"), "-r"))
    xr, _, _, result = docs
    assert xr["status"]["conditions"][0]["reason"] == "Available"
    assert result == {
        "apiVersion": "render.crossplane.io/v1beta1",
        "kind": "Result",
        "severity": "Normal",
        "reason": "Ready",
        "message": "Cluster team-a/llama-eu is available; 9/9 add-ons ready",
    }


def test_input_from_a_composition_step() -> None:
    legacy = ROOT / "examples" / "xrs" / "legacy-xr.yaml"
    composition = ROOT / "compositions" / "xaiinferencecluster-legacy.yaml"
    *_, cluster = documents(render(str(legacy), "--input", str(composition)))
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert cluster["spec"]["topology"]["class"] == "gpu-cluster"
    assert cluster["metadata"]["namespace"] == "team-a"
    assert cluster["metadata"]["labels"]["crossplane.io/claim-name"] == "chat-l4"


def test_fatal_result_exits_3_with_the_message(tmp_path: Path) -> None:
    xr = yaml.safe_load(Path(H100).read_text())
    xr["spec"]["gpu"]["product"] = "L4"
    path = tmp_path / "xr.yaml"
    path.write_text(yaml.safe_dump(xr))
    result = render(str(path))
    assert result.exit_code == 3
    assert result.stdout == ""
    assert 'pipeline step "aifleet" returned a fatal result: invalid spec: spec.models[0]' in (
        result.stderr
    )


def test_observed_resource_without_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "observed.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n")
    result = render(H100, "-o", str(path))
    assert result.exit_code == 1
    assert "observed ConfigMap 'stray': the crossplane.io/composition-resource-name" in (
        result.output
    )


def test_an_xr_of_another_kind_names_the_kinds_composed(tmp_path: Path) -> None:
    path = tmp_path / "xr.yaml"
    path.write_text(
        "apiVersion: aifleet.io/v1alpha1\nkind: AIModelDeployment\nmetadata: {name: m}\n"
    )
    result = render(str(path))
    assert result.exit_code == 1
    assert "aifleet.io/v1alpha1/AIModelDeployment is not an XR this function composes" in (
        result.output
    )
    assert "aifleet.io/v1alpha1/AIInferenceCluster, aifleet.io/v1alpha1/XAIInferenceCluster" in (
        result.output
    )


def test_a_binary_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "xr.yaml"
    path.write_bytes(b"apiVersion: v1\n\xff\xfe\x00binary")
    result = render(str(path))
    assert result.exit_code == 1
    assert f"{path}: not UTF-8 text (a binary file?): byte 15" in result.output
    assert "Traceback" not in result.output
