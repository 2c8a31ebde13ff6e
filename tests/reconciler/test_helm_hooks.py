"""A chart's hooks and ``crds/`` as an install would treat them: install and upgrade hooks are
refused with their names (or left out with ``hooks: Skip``), never applied as plain objects;
``skipCrds`` leaves the CRDs out; the delivery modes that run Helm itself are told the same."""

from pathlib import Path

import pytest

from function.compose.delivery import DELIVERY
from function.errors import RenderError
from function.model.bundle import AddonSpec, HelmSource
from function.model.input import Delivery
from function.reconciler.charts import ChartFetcher
from function.reconciler.helm import ChartRenderer, SdkEngine
from tests.compose.test_delivery import EKS, valid
from tests.reconciler.harness import REPO, addon_phases, bundle, capi_cluster, running
from tests.reconciler.test_loop_errors import addon_status, settled

HOOKED = {"repository": "file://tests/charts", "chart": "hooked", "version": "1.0.0"}


@pytest.fixture
def charts(tmp_path: Path) -> ChartRenderer:
    return ChartRenderer(ChartFetcher(tmp_path / "cache", file_root=REPO), SdkEngine())


def kinds(charts: ChartRenderer, **source: object) -> list[tuple[str, str]]:
    helm = HelmSource.model_validate({**HOOKED, **source})
    rendered = charts.render("hooked", helm, {}, "apps")
    return [(item.body["kind"], item.body["metadata"]["name"]) for item in rendered]


def test_install_hooks_are_refused_by_name_phase_and_file(charts: ChartRenderer) -> None:
    with pytest.raises(RenderError) as refused:
        kinds(charts)
    message = str(refused.value)
    assert message.startswith("add-on 'hooked', hooked/templates/migrate.yaml: ")
    assert "Job 'migrate' (pre-install, pre-upgrade) in hooked/templates/migrate.yaml" in message
    assert "helm.hooks: Skip" in message
    # Test and delete hooks are Helm's lifecycle, not the install's: never named, never applied.
    assert "smoke-test" not in message
    assert "cleanup" not in message


def test_skipped_hooks_leave_only_the_release(charts: ChartRenderer) -> None:
    assert kinds(charts, hooks="Skip") == [
        ("CustomResourceDefinition", "widgets.example.com"),
        ("ConfigMap", "app"),
    ]


def test_skip_crds_leaves_out_the_crds_directory(charts: ChartRenderer) -> None:
    assert kinds(charts, hooks="Skip", skipCrds=True) == [("ConfigMap", "app")]


async def test_the_reconciler_fails_a_hooked_chart_and_applies_none_of_it(
    tmp_path: Path,
) -> None:
    hooked = {"name": "hooked", "namespace": "apps", "helm": HOOKED}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [hooked]), field_manager="test")
        got = await h.wait_bundle("stack", settled("hooked"))
        assert addon_phases(got) == {"hooked": "Failed"}
        assert "Job 'migrate' (pre-install, pre-upgrade)" in addon_status(got, "hooked")["message"]
        workload = h.workload("c1")
        assert workload.find("v1", "ConfigMap", "app", "apps") is None
        assert workload.find("batch/v1", "Job", "migrate", "apps") is None

        skipped = {**hooked, "helm": {**HOOKED, "hooks": "Skip", "skipCrds": True}}
        h.mgmt.apply(bundle("stack", [skipped]), field_manager="test")
        got = await h.wait_bundle("stack", lambda b: addon_phases(b) == {"hooked": "Healthy"})
        assert workload.get("v1", "ConfigMap", "app", "apps")["data"] == {"release": "hooked"}
        assert workload.find("batch/v1", "Job", "migrate", "apps") is None
        crd = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
        assert workload.find(*crd) is None


def test_provider_helm_and_sveltos_are_told_to_skip_crds_and_hooks() -> None:
    addon = AddonSpec.model_validate(
        {
            "name": "op",
            "helm": {**HOOKED, "repository": "oci://r/charts", "skipCrds": True, "hooks": "Skip"},
        }
    )
    release = DELIVERY[Delivery.CROSSPLANE].plan(EKS, {}, [addon]).resources["release-op"]
    assert release["spec"]["forProvider"]["skipCRDs"] is True
    assert valid(release)
    profile = DELIVERY[Delivery.SVELTOS].plan(EKS, {}, [addon]).resources["profile-tier-0"]
    (chart,) = profile["spec"]["helmCharts"]
    assert chart["options"] == {"skipCRDs": True, "disableHooks": True}
    assert valid(profile)
