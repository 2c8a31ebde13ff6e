"""Only the reconciler sidecar holds API credentials: the function pod mounts no service
account token, and the sidecar alone mounts a projected one where the `kubernetes` client's
in-cluster loader reads it."""

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.config import incluster_config

REPO = Path(__file__).resolve().parents[2]
RUNTIME_CONFIG = REPO / "examples" / "install" / "runtime-config.yaml"

Obj = dict[str, Any]


def pod_spec() -> Obj:
    (doc,) = [d for d in yaml.safe_load_all(RUNTIME_CONFIG.read_text()) if d]
    assert doc["kind"] == "DeploymentRuntimeConfig"
    spec: Obj = doc["spec"]["deploymentTemplate"]["spec"]["template"]["spec"]
    return spec


def container(spec: Obj, name: str) -> Obj:
    (found,) = [c for c in spec["containers"] if c["name"] == name]
    return found


def token_volumes(spec: Obj) -> dict[str, Obj]:
    """Volumes carrying a service account token, by name."""
    return {
        v["name"]: v
        for v in spec.get("volumes") or []
        if any("serviceAccountToken" in s for s in (v.get("projected") or {}).get("sources", []))
    }


def mounted_files(volume: Obj, mount_path: str) -> dict[str, str]:
    """File path → what the projected volume puts there (token, a ConfigMap key, a field)."""
    files = {}
    for source in volume["projected"]["sources"]:
        if "serviceAccountToken" in source:
            files[f"{mount_path}/{source['serviceAccountToken']['path']}"] = "token"
        for item in (source.get("configMap") or {}).get("items", []):
            files[f"{mount_path}/{item['path']}"] = f"configMap {item['key']}"
        for item in (source.get("downwardAPI") or {}).get("items", []):
            files[f"{mount_path}/{item['path']}"] = item["fieldRef"]["fieldPath"]
    return files


def test_the_function_container_has_no_token_and_the_sidecar_has_one() -> None:
    spec = pod_spec()
    assert spec["automountServiceAccountToken"] is False  # no container gets one implicitly
    tokens = token_volumes(spec)
    function = container(spec, "package-runtime")
    assert not {m["name"] for m in function.get("volumeMounts") or []} & set(tokens)
    assert not function.get("envFrom") and not any(
        "secretKeyRef" in (e.get("valueFrom") or {}) for e in function.get("env") or []
    )

    sidecar = container(spec, "reconciler")
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] in tokens]
    assert mount["readOnly"] is True
    files = mounted_files(tokens[mount["name"]], mount["mountPath"])
    assert files == {
        incluster_config.SERVICE_TOKEN_FILENAME: "token",
        incluster_config.SERVICE_CERT_FILENAME: "configMap ca.crt",
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace": "metadata.namespace",
    }


def test_the_in_cluster_loader_reads_the_projected_files(tmp_path: Path) -> None:
    spec = pod_spec()
    sidecar = container(spec, "reconciler")
    tokens = token_volumes(spec)
    (mount,) = [m for m in sidecar["volumeMounts"] if m["name"] in tokens]
    files = mounted_files(tokens[mount["name"]], mount["mountPath"])
    content = {"token": "bound-token", "configMap ca.crt": "-----BEGIN CERTIFICATE-----\n"}
    for path, what in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content.get(what, "crossplane-system"))
    loader = incluster_config.InClusterConfigLoader(
        token_filename=str(tmp_path / incluster_config.SERVICE_TOKEN_FILENAME.lstrip("/")),
        cert_filename=str(tmp_path / incluster_config.SERVICE_CERT_FILENAME.lstrip("/")),
        environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
    )
    cfg = k8s.Configuration()
    loader.load_and_set(cfg)
    assert cfg.host == "https://10.96.0.1:443"
    assert [v.split()[-1] for v in cfg.api_key.values()] == ["bound-token"]
