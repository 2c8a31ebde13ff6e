"""Rendering add-ons whose content is a Helm chart, with the real Helm engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from function.errors import RenderError, SourceLocation
from function.model.bundle import AddonSpec
from function.reconciler.charts import ChartFetcher
from function.reconciler.helm import ChartRenderer, SdkEngine
from function.reconciler.render import render_addon, render_values
from function.reconciler.templates import TemplateContext
from tests.objects import gpu_operator_addon

CONTEXT = TemplateContext(
    cluster={
        "kind": "Cluster",
        "metadata": {"name": "llama-eu", "namespace": "team-a", "labels": {"gpu": "H100-80GB"}},
        "spec": {"topology": {"version": "v1.33.0"}},
    }
)


def gpu_operator(**helm: Any) -> AddonSpec:
    return AddonSpec.model_validate(gpu_operator_addon(**helm))


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_gpu_operator_stand_in_renders_with_templated_values(charts: ChartRenderer) -> None:
    addon = gpu_operator(
        values={
            "driver": {"enabled": False},
            "mig": {"strategy": "{{ 'mixed' if 'H100' in cluster.labels.gpu else 'single' }}"},
        },
        valuesTemplate=(
            "devicePlugin:\n"
            "  config:\n"
            "    create: true\n"
            "    name: time-slicing\n"
            "    default: any\n"
            "    data:\n"
            "      any: |\n"
            "        version: v1\n"
            "        sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 4}]}}\n"
            "dcgmExporter: {serviceMonitor: {interval: 30s}}\n"
        ),
    )
    rendered = render_addon(addon, CONTEXT, manifests_from={}, charts=charts)

    kinds = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert kinds == [
        ("CustomResourceDefinition", "clusterpolicies.nvidia.com"),
        ("ClusterPolicy", "cluster-policy"),
        ("ServiceAccount", "gpu-operator"),
        ("Deployment", "gpu-operator"),
        ("ConfigMap", "time-slicing"),
    ]
    assert rendered.sources == [
        "gpu-operator/crds/nvidia.com_clusterpolicies.yaml",
        "gpu-operator/templates/clusterpolicy.yaml",
        "gpu-operator/templates/operator.yaml",
        "gpu-operator/templates/operator.yaml",
        "gpu-operator/templates/plugin_config.yaml",
    ]
    objects = by_kind(rendered.objects)
    policy = objects["ClusterPolicy", "cluster-policy"]
    assert policy["apiVersion"] == "nvidia.com/v1"
    assert policy["spec"]["driver"]["enabled"] is False
    assert policy["spec"]["toolkit"]["enabled"] is True  # chart default kept
    assert policy["spec"]["mig"] == {"strategy": "mixed"}
    assert policy["spec"]["devicePlugin"]["config"] == {"name": "time-slicing", "default": "any"}
    assert policy["spec"]["dcgmExporter"]["serviceMonitor"] == {"enabled": True, "interval": "30s"}
    deployment = objects["Deployment", "gpu-operator"]
    assert deployment["metadata"]["namespace"] == "gpu-operator"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/instance"] == "gpu-operator"
    assert "replicas: 4" in objects["ConfigMap", "time-slicing"]["data"]["any"]
    assert rendered.chart_digest == charts.fetch("gpu-operator", addon.helm).digest  # type: ignore[arg-type]


def test_vllm_stack_renders_one_engine_per_model(charts: ChartRenderer) -> None:
    model = {
        "repository": "vllm/vllm-openai",
        "tag": "v0.11.0",
        "replicaCount": 1,
        "requestCPU": 8,
        "requestMemory": "64Gi",
        "requestGPU": 2,
        "vllmConfig": {"tensorParallelSize": 2, "maxModelLen": 8192, "gpuMemoryUtilization": 0.9},
    }
    addon = AddonSpec.model_validate(
        {
            "name": "vllm-stack",
            "namespace": "vllm",
            "helm": {
                "repository": "file://examples/charts",
                "chart": "vllm-stack",
                "version": "0.1.12",
                "releaseName": "serving",
                "values": {
                    "servingEngineSpec": {
                        "modelSpec": [
                            {**model, "name": "llama", "modelURL": "meta-llama/Llama-3.1-70B"},
                            {**model, "name": "mistral", "modelURL": "mistralai/Mistral-7B"},
                        ]
                    },
                    "routerSpec": {"routingLogic": "prefixaware"},
                },
            },
        }
    )
    objects = by_kind(render_addon(addon, CONTEXT, manifests_from={}, charts=charts).objects)
    assert sorted(objects) == [
        ("Deployment", "serving-deployment-router"),
        ("Deployment", "serving-llama-deployment-vllm"),
        ("Deployment", "serving-mistral-deployment-vllm"),
        ("Service", "serving-llama-engine-service"),
        ("Service", "serving-mistral-engine-service"),
        ("Service", "serving-router-service"),
    ]
    engine = objects["Deployment", "serving-llama-deployment-vllm"]["spec"]["template"]["spec"]
    container = engine["containers"][0]
    assert container["command"][:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B"]
    assert container["command"][container["command"].index("--tensor-parallel-size") + 1] == "2"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    router = objects["Deployment", "serving-deployment-router"]["spec"]["template"]["spec"]
    assert "prefixaware" in router["containers"][0]["args"]


def test_a_failing_required_in_a_chart_names_the_chart_file_and_line(
    charts: ChartRenderer,
) -> None:
    addon = AddonSpec.model_validate(
        {
            "name": "vllm-stack",
            "namespace": "vllm",
            "helm": {
                "repository": "file://examples/charts",
                "chart": "vllm-stack",
                "version": "0.1.12",
                "values": {"servingEngineSpec": {"modelSpec": [{"name": "x", "tag": "1"}]}},
            },
        }
    )
    with pytest.raises(RenderError) as caught:
        render_addon(addon, CONTEXT, manifests_from={}, charts=charts)
    error = caught.value
    assert error.location.addon == "vllm-stack"
    assert error.location.file == "vllm-stack/templates/deployment-vllm-multi.yaml"
    assert error.location.line == 33
    assert "Required value 'modelSpec.repository' must be defined" in error.reason


def test_a_broken_chart_template_names_the_chart_file_and_line(
    tmp_path: Path, example_charts: Path
) -> None:
    shutil.copytree(example_charts / "gpu-operator", tmp_path / "gpu-operator")
    (tmp_path / "gpu-operator" / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
        "data:\n  a: {{ .Values.nope.deeper }}\n"
    )
    charts = ChartRenderer(ChartFetcher(tmp_path / "cache", file_root=tmp_path), SdkEngine())
    with pytest.raises(RenderError) as caught:
        render_addon(gpu_operator(repository="file://."), CONTEXT, manifests_from={}, charts=charts)
    assert caught.value.location == SourceLocation(
        "gpu-operator", "gpu-operator/templates/broken.yaml", 6
    )
    assert "nil pointer evaluating interface {}.deeper" in caught.value.reason


def test_a_chart_that_renders_bad_yaml_names_the_chart_file(
    tmp_path: Path, example_charts: Path
) -> None:
    shutil.copytree(example_charts / "gpu-operator", tmp_path / "gpu-operator")
    (tmp_path / "gpu-operator" / "templates" / "bad-yaml.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: [1, 2\n"
    )
    charts = ChartRenderer(ChartFetcher(tmp_path / "cache", file_root=tmp_path), SdkEngine())
    with pytest.raises(RenderError) as caught:
        render_addon(gpu_operator(repository="file://."), CONTEXT, manifests_from={}, charts=charts)
    assert caught.value.location.file == "gpu-operator/templates/bad-yaml.yaml"
    assert caught.value.reason.startswith("invalid YAML:")


def test_a_bad_values_leaf_names_its_path(charts: ChartRenderer) -> None:
    addon = gpu_operator(values={"driver": {"version": "{{ cluster.labels.driver }}"}})
    with pytest.raises(RenderError) as caught:
        render_addon(addon, CONTEXT, manifests_from={}, charts=charts)
    assert caught.value.location == SourceLocation("gpu-operator", "values.driver.version", 1)
    assert "has no attribute 'driver'" in caught.value.reason


def test_values_leaves_in_lists_are_templated() -> None:
    addon = gpu_operator(values={"operator": {"args": ["--cluster={{ cluster.name }}", 3]}})
    assert addon.helm is not None
    values = render_values(addon.name, addon.helm, CONTEXT)
    assert values == {"operator": {"args": ["--cluster=llama-eu", 3]}}


@pytest.mark.parametrize(
    ("template", "line", "reason"),
    [
        ("a: 1\nb: [\n", 3, "invalid YAML: did not find expected node content"),
        ("- 1\n- 2\n", 1, "valuesTemplate must render a YAML mapping"),
        ("a: 1\n---\nb: 2\n", 3, "valuesTemplate must render one YAML document"),
        ("a: {{ missing }}\n", 1, "undefined value: 'missing' is undefined"),
    ],
)
def test_a_bad_values_template_names_the_line(template: str, line: int, reason: str) -> None:
    addon = gpu_operator(valuesTemplate=template)
    assert addon.helm is not None
    with pytest.raises(RenderError) as caught:
        render_values(addon.name, addon.helm, CONTEXT)
    assert caught.value.location == SourceLocation("gpu-operator", "valuesTemplate", line)
    assert caught.value.reason == reason


def test_an_empty_values_template_leaves_values_alone() -> None:
    addon = gpu_operator(values={"a": 1}, valuesTemplate="{% if false %}b: 2{% endif %}\n")
    assert addon.helm is not None
    assert render_values(addon.name, addon.helm, CONTEXT) == {"a": 1}


def test_a_values_template_removes_a_value_with_null(charts: ChartRenderer) -> None:
    addon = gpu_operator(
        values={"dcgmExporter": {"serviceMonitor": {"honorLabels": True}}, "extra": 1},
        valuesTemplate="dcgmExporter: {serviceMonitor: {honorLabels: null}}\nextra: null\n",
    )
    assert addon.helm is not None
    assert render_values(addon.name, addon.helm, CONTEXT) == {
        "dcgmExporter": {"serviceMonitor": {}}
    }
    objects = by_kind(render_addon(addon, CONTEXT, manifests_from={}, charts=charts).objects)
    monitor = objects["ClusterPolicy", "cluster-policy"]["spec"]["dcgmExporter"]["serviceMonitor"]
    assert monitor == {"enabled": True, "interval": "15s"}


def test_a_values_template_removes_a_chart_default_with_null(charts: ChartRenderer) -> None:
    addon = gpu_operator(valuesTemplate="dcgmExporter: {serviceMonitor: {interval: null}}\n")
    objects = by_kind(render_addon(addon, CONTEXT, manifests_from={}, charts=charts).objects)
    monitor = objects["ClusterPolicy", "cluster-policy"]["spec"]["dcgmExporter"]["serviceMonitor"]
    assert monitor == {"enabled": True}


def test_a_null_value_removes_a_chart_default_as_helm_does(charts: ChartRenderer) -> None:
    addon = gpu_operator(values={"dcgmExporter": {"serviceMonitor": {"interval": None}}})
    objects = by_kind(render_addon(addon, CONTEXT, manifests_from={}, charts=charts).objects)
    monitor = objects["ClusterPolicy", "cluster-policy"]["spec"]["dcgmExporter"]["serviceMonitor"]
    assert monitor == {"enabled": True}


def test_chart_and_manifests_render_together_and_duplicates_are_refused(
    charts: ChartRenderer,
) -> None:
    addon = gpu_operator().model_copy(
        update={
            "manifests": "apiVersion: v1\nkind: ServiceAccount\n"
            "metadata: {name: gpu-operator, namespace: gpu-operator}\n"
        }
    )
    with pytest.raises(RenderError) as caught:
        render_addon(addon, CONTEXT, manifests_from={}, charts=charts)
    assert caught.value.reason == (
        "ServiceAccount 'gpu-operator' is rendered twice "
        "(also by gpu-operator/templates/operator.yaml)"
    )
