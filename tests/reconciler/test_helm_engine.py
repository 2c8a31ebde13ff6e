"""The Helm engine layer: what a chart contributes, in which order, and what is dropped."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from function.errors import RenderError, SourceLocation
from function.model.bundle import HelmHooks, HelmSource
from function.reconciler.charts import ChartFetcher
from function.reconciler.helm import (
    BinaryEngine,
    ChartRenderer,
    SdkEngine,
    default_engine,
    split_template_output,
)
from function.reconciler.manifests import parse_objects

CHART_YAML = "apiVersion: v2\nname: hooks\nversion: 1.0.0\n"
TEMPLATES = {
    "NOTES.txt": "Thanks for installing {{ .Release.Name }}.\n",
    "b-config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-b\n"
        "data:\n  ns: {{ .Release.Namespace }}\n  install: {{ .Release.IsInstall | quote }}\n"
        "  size: {{ .Values.size | quote }}\n---\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-b2\n"
    ),
    "a-job.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n"
        "    helm.sh/hook: pre-install,pre-upgrade\nspec: {template: {spec: {containers: []}}}\n"
    ),
    "cleanup.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: cleanup\n  annotations:\n"
        "    helm.sh/hook: pre-delete\nspec: {template: {spec: {containers: []}}}\n"
    ),
    "tests/test-connection.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  annotations:\n"
        '    "helm.sh/hook": test\nspec: {containers: []}\n'
    ),
    "empty.yaml": "{{- if .Values.never }}\napiVersion: v1\n{{- end }}\n",
}
CRDS = {
    "widgets.yaml": (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\n"
    )
}


def write_chart(root: Path, size: str = "small") -> Path:
    chart = root / "hooks"
    (chart / "templates" / "tests").mkdir(parents=True, exist_ok=True)
    (chart / "crds").mkdir(exist_ok=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text(f"size: {size}\n")
    for name, text in TEMPLATES.items():
        (chart / "templates" / name).write_text(text)
    for name, text in CRDS.items():
        (chart / "crds" / name).write_text(text)
    return chart


SOURCE = HelmSource(
    repository="file://charts", chart="hooks", version="1.0.0", hooks=HelmHooks.SKIP
)
"""Hooks left out (`tests/reconciler/test_helm_hooks.py` covers refusing them)."""


@pytest.fixture
def local_charts(tmp_path: Path) -> ChartRenderer:
    write_chart(tmp_path / "charts")
    fetcher = ChartFetcher(tmp_path / "cache", file_root=tmp_path, local_recheck=0)
    return ChartRenderer(fetcher, SdkEngine())


def test_crds_first_then_templates_by_path_without_notes_or_hooks(
    local_charts: ChartRenderer,
) -> None:
    objects = local_charts.render("hooks", SOURCE, {}, "apps")
    assert [(o.file, o.body["metadata"]["name"]) for o in objects] == [
        ("hooks/crds/widgets.yaml", "widgets.example.com"),
        ("hooks/templates/b-config.yaml", "hooks-b"),
        ("hooks/templates/b-config.yaml", "hooks-b2"),
    ]
    config = objects[1].body
    assert config["data"] == {"ns": "apps", "install": "true", "size": "small"}


def test_values_coalesce_over_chart_defaults_and_release_name_is_used(
    local_charts: ChartRenderer,
) -> None:
    source = SOURCE.model_copy(update={"release_name": "custom"})
    objects = local_charts.render("hooks", source, {"size": "large"}, "apps")
    config = next(o.body for o in objects if o.body["metadata"]["name"] == "custom-b")
    assert config["data"]["size"] == "large"


def test_an_edited_local_chart_is_rendered_afresh(
    tmp_path: Path, local_charts: ChartRenderer
) -> None:
    before = local_charts.fetch("hooks", SOURCE).digest
    write_chart(tmp_path / "charts", size="huge")
    after = local_charts.fetch("hooks", SOURCE).digest
    assert before != after
    objects = local_charts.render("hooks", SOURCE, {}, "apps")
    assert objects[1].body["data"]["size"] == "huge"


def test_renders_from_many_threads_agree(local_charts: ChartRenderer) -> None:
    def render(size: int) -> list[str]:
        objects = local_charts.render("hooks", SOURCE, {"size": str(size)}, f"ns-{size}")
        return [
            o.body["data"]["ns"]
            for o in objects
            if o.body["kind"] == "ConfigMap" and "data" in o.body
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(render, range(32)))
    assert results == [[f"ns-{size}"] for size in range(32)]


def test_a_chart_that_does_not_load_is_a_render_error(tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "charts")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hooks\nversion: 1.0.0\nbad: [\n")
    renderer = ChartRenderer(ChartFetcher(tmp_path / "cache", file_root=tmp_path), SdkEngine())
    with pytest.raises(RenderError) as caught:
        renderer.render("hooks", SOURCE, {}, "apps")
    assert caught.value.location.addon == "hooks"
    assert caught.value.location.file.startswith("chart hooks:1.0.0")


HELM_TEMPLATE_OUTPUT = """---
# Source: hooks/crds/widgets.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
# Source: hooks/templates/b-config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: rel-b
---
# Source: hooks/templates/b-config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: rel-b2
---
# Source: hooks/charts/sub/crds/gadgets.yaml
kind: CustomResourceDefinition
---
# Source: hooks/templates/a-job.yaml
apiVersion: batch/v1
kind: Job
"""


def test_helm_template_output_is_split_by_source_file() -> None:
    files = split_template_output(HELM_TEMPLATE_OUTPUT)
    assert [name for name, _ in files.crds] == [
        "hooks/charts/sub/crds/gadgets.yaml",
        "hooks/crds/widgets.yaml",
    ]
    assert [name for name, _ in files.templates] == [
        "hooks/templates/a-job.yaml",
        "hooks/templates/b-config.yaml",
    ]
    config = dict(files.templates)["hooks/templates/b-config.yaml"]
    objects = parse_objects(config, SourceLocation("hooks", "hooks/templates/b-config.yaml"))
    assert [o["metadata"]["name"] for o in objects] == ["rel-b", "rel-b2"]


def test_the_binary_engine_is_chosen_only_when_helm_is_on_path() -> None:
    expected = BinaryEngine if shutil.which("helm") else SdkEngine
    assert isinstance(default_engine(), expected)
