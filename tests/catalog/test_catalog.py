"""The built-in catalog: the agreed charts and order, and offline stand-ins that match them."""

from pathlib import Path

import pytest
import yaml

from function.catalog.addons import CATALOG, SERVING
from function.catalog.gpus import GPUS, mig_memory_mib
from function.compose.addons import compose_bundle
from function.compose.sizing import size_pool
from function.model.common import ObjectRef
from function.model.input import FunctionInput
from function.model.xr import GpuProduct, Runtime, parse_xr_spec

CHARTS = Path(__file__).parents[2] / "examples" / "charts"

AGREED = [
    # name, repository, chart, version, namespace, depends on
    ("cert-manager", "https://charts.jetstack.io", "cert-manager", "v1.17.0", "cert-manager", ()),
    (
        "nfd",
        "oci://registry.k8s.io/nfd/charts",
        "node-feature-discovery",
        "0.19.0",
        "node-feature-discovery",
        (),
    ),
    (
        "gpu-operator",
        "https://helm.ngc.nvidia.com/nvidia",
        "gpu-operator",
        "v26.7.0",
        "gpu-operator",
        ("nfd",),
    ),
    (
        "monitoring",
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        "83.4.0",
        "monitoring",
        (),
    ),
    (
        "kserve-crd",
        "oci://ghcr.io/kserve/charts",
        "kserve-crd",
        "v0.20.0",
        "kserve",
        ("cert-manager",),
    ),
    (
        "kserve",
        "oci://ghcr.io/kserve/charts",
        "kserve-resources",
        "v0.20.0",
        "kserve",
        ("kserve-crd",),
    ),
    (
        "kserve-runtimes",
        "oci://ghcr.io/kserve/charts",
        "kserve-runtime-configs",
        "v0.20.0",
        "kserve",
        ("kserve",),
    ),
    (
        "vllm-stack",
        "https://vllm-project.github.io/production-stack",
        "vllm-stack",
        "0.1.12",
        "vllm",
        ("gpu-operator", "monitoring"),
    ),
    (
        "kueue",
        "oci://registry.k8s.io/kueue/charts",
        "kueue",
        "0.19.2",
        "kueue-system",
        ("gpu-operator",),
    ),
    (
        "kuberay",
        "https://ray-project.github.io/kuberay-helm/",
        "kuberay-operator",
        "1.7.0",
        "kuberay",
        ("kueue",),
    ),
    (
        "kubeflow-trainer",
        "oci://ghcr.io/kubeflow/charts",
        "kubeflow-trainer",
        "2.3.0",
        "kubeflow-system",
        ("kueue",),
    ),
    (
        "otel-collector",
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "opentelemetry-collector",
        "0.184.0",
        "observability",
        (),
    ),
    ("nats", "https://nats-io.github.io/k8s/helm/charts/", "nats", "2.14.2", "nats", ()),
    ("kubeai", "https://www.kubeai.org", "kubeai", "0.23.0", "kubeai", ()),
]


def test_catalog_is_the_agreed_table_in_install_order() -> None:
    got = [
        (a.name, a.chart.repository, a.chart.chart, a.chart.version, a.namespace, a.depends_on)
        for a in CATALOG.values()
    ]
    assert got == AGREED
    seen: set[str] = set()
    for addon in CATALOG.values():
        assert set(addon.depends_on) <= seen, addon.name
        seen.add(addon.name)


def test_every_runtime_has_a_serving_stack_from_the_catalog() -> None:
    assert set(SERVING) == set(Runtime)
    for serving in SERVING.values():
        assert all(name in CATALOG for name in serving.stack)


@pytest.mark.parametrize("addon", CATALOG.values(), ids=lambda a: a.name)
def test_each_chart_has_an_offline_stand_in_of_the_same_name_and_version(addon: object) -> None:
    chart = addon.chart  # type: ignore[attr-defined]
    meta = yaml.safe_load((CHARTS / chart.chart / "Chart.yaml").read_text())
    assert (meta["name"], meta["version"]) == (chart.chart, chart.version)


def test_stand_ins_know_every_top_level_value_the_function_sets() -> None:
    spec = parse_xr_spec(
        {
            "region": "lab",
            "capi": {"infrastructure": "docker"},
            "gpu": {"product": "A100-80GB", "sharing": "mig", "migProfile": "1g.10gb"},
            "models": [
                {"name": "a", "parameters": "1B", "source": "hf://org/a"},
                {"name": "b", "parameters": "1B", "runtime": "kserve", "source": "hf://org/b"},
            ],
        }
    )
    ref = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name="c")
    bundle, _ = compose_bundle("c", "ns", spec, size_pool(spec), FunctionInput(), ref)
    for addon in bundle["spec"]["addons"]:
        helm = addon.get("helm")
        if helm:
            defaults = yaml.safe_load((CHARTS / helm["chart"] / "values.yaml").read_text()) or {}
            assert set(helm.get("values", {})) <= set(defaults), addon["name"]


def test_gpu_table_covers_every_product_and_its_mig_profiles() -> None:
    assert list(GPUS) == list(GpuProduct)
    for gpu in GPUS.values():
        for profile in gpu.mig_profiles:
            assert mig_memory_mib(profile) * gpu.mig_devices(profile) <= gpu.memory_mib


@pytest.mark.parametrize(
    ("product", "profile", "devices"),
    [
        (GpuProduct.A100_40GB, "1g.5gb", 7),
        (GpuProduct.A100_40GB, "1g.10gb", 4),
        (GpuProduct.H100_80GB, "2g.20gb", 3),
        (GpuProduct.H100_80GB, "3g.40gb", 2),
        (GpuProduct.H100_80GB, "4g.40gb", 1),
        (GpuProduct.H200_141GB, "1g.35gb", 4),
        (GpuProduct.H200_141GB, "7g.141gb", 1),
    ],
)
def test_mig_devices_per_gpu(product: GpuProduct, profile: str, devices: int) -> None:
    assert GPUS[product].mig_devices(profile) == devices
