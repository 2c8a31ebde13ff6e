"""The offline stand-in charts: catalog names and versions, lint-clean, what health waits on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from function.model.bundle import AddonSpec
from function.reconciler.helm import ChartRenderer
from function.reconciler.render import render_addon
from function.reconciler.templates import TemplateContext

# add-on name, chart, version, namespace, values, objects the health checks wait on
CATALOG: list[tuple[str, str, str, str, dict[str, Any], set[tuple[str, str]]]] = [
    (
        "cert-manager",
        "cert-manager",
        "v1.17.0",
        "cert-manager",
        {"crds": {"enabled": True}},
        {
            ("Deployment", "cert-manager"),
            ("Deployment", "cert-manager-webhook"),
            ("Deployment", "cert-manager-cainjector"),
            ("CustomResourceDefinition", "certificates.cert-manager.io"),
            ("CustomResourceDefinition", "clusterissuers.cert-manager.io"),
        },
    ),
    (
        "nfd",
        "node-feature-discovery",
        "0.19.0",
        "node-feature-discovery",
        {},
        {
            ("Deployment", "nfd-node-feature-discovery-master"),
            ("DaemonSet", "nfd-node-feature-discovery-worker"),
        },
    ),
    (
        "gpu-operator",
        "gpu-operator",
        "v26.7.0",
        "gpu-operator",
        {},
        {
            ("Deployment", "gpu-operator"),
            ("ClusterPolicy", "cluster-policy"),
            ("CustomResourceDefinition", "clusterpolicies.nvidia.com"),
        },
    ),
    (
        "monitoring",
        "kube-prometheus-stack",
        "83.4.0",
        "monitoring",
        {},
        {
            ("Deployment", "monitoring-kube-prometheus-operator"),
            ("CustomResourceDefinition", "servicemonitors.monitoring.coreos.com"),
            ("CustomResourceDefinition", "podmonitors.monitoring.coreos.com"),
            ("CustomResourceDefinition", "prometheuses.monitoring.coreos.com"),
            ("Prometheus", "monitoring-kube-prometheus-prometheus"),
        },
    ),
    (
        "kserve-crd",
        "kserve-crd",
        "v0.20.0",
        "kserve",
        {},
        {
            ("CustomResourceDefinition", "inferenceservices.serving.kserve.io"),
            ("CustomResourceDefinition", "servingruntimes.serving.kserve.io"),
            ("CustomResourceDefinition", "clusterservingruntimes.serving.kserve.io"),
        },
    ),
    (
        "kserve",
        "kserve-resources",
        "v0.20.0",
        "kserve",
        {"kserve": {"controller": {"deploymentMode": "Standard"}}},
        {("Deployment", "kserve-controller-manager")},
    ),
    (
        "kserve-runtimes",
        "kserve-runtime-configs",
        "v0.20.0",
        "kserve",
        {"kserve": {"servingruntime": {"enabled": True}}},
        {
            ("ClusterServingRuntime", "kserve-huggingfaceserver"),
            ("ClusterServingRuntime", "kserve-tritonserver"),
        },
    ),
    (
        "vllm-stack",
        "vllm-stack",
        "0.1.12",
        "vllm",
        {},
        {("Deployment", "vllm-stack-deployment-router"), ("Service", "vllm-stack-router-service")},
    ),
    ("kueue", "kueue", "0.19.2", "kueue-system", {}, {("Deployment", "kueue")}),
    (
        "kuberay",
        "kuberay-operator",
        "1.7.0",
        "kuberay",
        {"batchScheduler": {"name": "kueue"}},
        {("Deployment", "kuberay")},
    ),
    (
        "kubeflow-trainer",
        "kubeflow-trainer",
        "2.3.0",
        "kubeflow-system",
        {"runtimes": {"defaultEnabled": True}},
        {("Deployment", "kubeflow-trainer")},
    ),
    (
        "otel-collector",
        "opentelemetry-collector",
        "0.184.0",
        "observability",
        {"mode": "daemonset"},
        {("DaemonSet", "otel-collector")},
    ),
    (
        "nats",
        "nats",
        "2.14.2",
        "nats",
        {
            "config": {
                "leafnodes": {"enabled": True, "merge": {"remotes": [{"url": "tls://h:7422"}]}}
            }
        },
        {("Deployment", "nats")},
    ),
    ("kubeai", "kubeai", "0.23.0", "kubeai", {}, {("Deployment", "kubeai")}),
]


@pytest.mark.parametrize(("chart", "version"), [(c[1], c[2]) for c in CATALOG], ids=str)
def test_each_stand_in_is_a_marked_lint_clean_chart_of_the_catalog_version(
    example_charts: Path, chart: str, version: str
) -> None:
    path = example_charts / chart
    metadata = yaml.safe_load((path / "Chart.yaml").read_text())
    assert (metadata["name"], metadata["version"]) == (chart, version)
    assert "offline stand-in" in metadata["description"].lower()
    assert metadata["annotations"]["aifleet.io/offline-stand-in"].endswith(f"{chart} {version}")
    report = helm.lint(path)
    assert report["errors"] == []
    # Upstream's own versions carry a "v" (v26.7.0), which Helm's lint only warns about.
    allowed = {f"version '{version}' is not a valid SemVerV2"}
    assert [m["error"] for m in report["messages"] if m["error"] not in allowed] == []


@pytest.mark.parametrize(
    ("name", "chart", "version", "namespace", "values", "waited_on"),
    CATALOG,
    ids=[c[0] for c in CATALOG],
)
def test_each_stand_in_renders_what_the_health_checks_wait_on(
    charts: ChartRenderer,
    name: str,
    chart: str,
    version: str,
    namespace: str,
    values: dict[str, Any],
    waited_on: set[tuple[str, str]],
) -> None:
    addon = AddonSpec.model_validate(
        {
            "name": name,
            "namespace": namespace,
            "helm": {
                "repository": "file://examples/charts",
                "chart": chart,
                "version": version,
                "values": values,
            },
        }
    )
    rendered = render_addon(
        addon,
        TemplateContext(cluster={"metadata": {"name": "c"}}),
        manifests_from={},
        charts=charts,
    )
    found = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert waited_on <= found
    for body in rendered.objects:
        if body["kind"] in ("Deployment", "DaemonSet", "Service", "ServiceAccount", "ConfigMap"):
            assert body["metadata"]["namespace"] == namespace
