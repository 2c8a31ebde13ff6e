"""Rendering inline manifests and manifestsFrom: objects in order, precise errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from function.errors import RenderError, SourceLocation
from function.model.bundle import AddonSpec, ManifestSource
from function.reconciler.helm import ChartRenderer
from function.reconciler.manifests import manifest_templates
from function.reconciler.render import render_addon
from function.reconciler.templates import TemplateContext

CONTEXT = TemplateContext(
    cluster={"metadata": {"name": "edge-7", "namespace": "team-a", "labels": {"site": "lyon"}}}
)


def addon(manifests: str | None = None, **fields: Any) -> AddonSpec:
    return AddonSpec.model_validate({"name": "extras", "manifests": manifests, **fields})


def render(
    spec: AddonSpec, charts: ChartRenderer, manifests_from: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    rendered = render_addon(spec, CONTEXT, manifests_from=manifests_from or {}, charts=charts)
    assert rendered.name == spec.name
    return rendered.objects, rendered.sources


def failure(
    spec: AddonSpec, charts: ChartRenderer, manifests_from: dict[str, str] | None = None
) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render(spec, charts, manifests_from)
    return caught.value


def test_inline_manifests_render_to_objects_in_order(charts: ChartRenderer) -> None:
    objects, sources = render(
        addon(
            "---\n"
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: 'site-{{ cluster.labels.site }}'}\n"
            "---\n# only a comment\n---\n"
            "apiVersion: v1\nkind: ConfigMap\n"
            "metadata: {name: info, namespace: 'site-{{ cluster.labels.site }}'}\n"
            "data: {cluster: '{{ cluster.name }}', built: 2024-05-01}\n"
        ),
        charts,
    )
    assert objects == [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site-lyon"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "info", "namespace": "site-lyon"},
            "data": {"cluster": "edge-7", "built": "2024-05-01"},
        },
    ]
    assert sources == ["manifests", "manifests"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   bad: indent\n",
            5,
            "invalid YAML: mapping values are not allowed in this context",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- just\n- a list\n",
            5,
            "a document must be a Kubernetes object, not list",
        ),
        ("kind: ConfigMap\nmetadata: {name: a}\n", 1, "the object has no apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", 1, "the object has no kind"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {}\n", 1, "the Secret has no metadata.name"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {on: 'x'}\n",
            1,
            "ConfigMap a: .data.True (a boolean key; quote it) is not a JSON value",
        ),
    ],
)
def test_bad_documents_name_the_line_and_the_problem(
    charts: ChartRenderer, text: str, line: int, reason: str
) -> None:
    error = failure(addon(text), charts)
    assert error.location == SourceLocation("extras", "manifests", line)
    assert error.reason == reason


def test_an_undefined_variable_in_manifests_names_the_line(charts: ChartRenderer) -> None:
    error = failure(
        addon("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ zone }}'}\n"), charts
    )
    assert str(error) == "add-on 'extras', manifests:3: undefined value: 'zone' is undefined"


def test_manifests_from_config_maps_and_secrets(charts: ChartRenderer) -> None:
    config_map = {
        "data": {
            "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ cluster.name }}'}\n",
        }
    }
    secret_text = "apiVersion: v1\nkind: Secret\nmetadata: {name: token}\nstringData: {t: x}\n"
    secret = {"data": {"s.yaml": base64.b64encode(secret_text.encode()).decode()}}
    sources = {
        **manifest_templates(
            ManifestSource(kind="ConfigMap", name="extra"),
            config_map,
            addon="extras",
            default_namespace="team-a",
        ),
        **manifest_templates(
            ManifestSource(kind="Secret", name="creds", namespace="vault"),
            secret,
            addon="extras",
            default_namespace="team-a",
        ),
    }
    objects, files = render(
        addon("apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n"), charts, sources
    )
    assert [o["metadata"]["name"] for o in objects] == ["first", "edge-7", "b", "token"]
    assert files == [
        "manifests",
        "ConfigMap team-a/extra:a.yaml",
        "ConfigMap team-a/extra:b.yaml",
        "Secret vault/creds:s.yaml",
    ]


def test_an_error_in_a_config_map_names_the_object_and_key(charts: ChartRenderer) -> None:
    sources = manifest_templates(
        ManifestSource(kind="ConfigMap", name="extra"),
        {"data": {"app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ nme }}\n"}},
        addon="extras",
        default_namespace="team-a",
    )
    spec = AddonSpec.model_validate(
        {"name": "extras", "manifestsFrom": [{"kind": "ConfigMap", "name": "extra"}]}
    )
    error = failure(spec, charts, sources)
    assert str(error) == (
        "add-on 'extras', ConfigMap team-a/extra:app.yaml:4: undefined value: 'nme' is undefined"
    )


def test_a_missing_source_is_an_error_unless_optional() -> None:
    source = ManifestSource(kind="ConfigMap", name="gone")
    with pytest.raises(RenderError) as caught:
        manifest_templates(source, None, addon="extras", default_namespace="team-a")
    assert (
        str(caught.value) == "add-on 'extras', ConfigMap team-a/gone: the ConfigMap does not exist"
    )
    optional = ManifestSource(kind="Secret", name="gone", optional=True)
    assert manifest_templates(optional, None, addon="extras", default_namespace="team-a") == {}


def test_a_secret_value_that_is_not_base64_is_reported() -> None:
    source = ManifestSource(kind="Secret", name="creds")
    with pytest.raises(RenderError) as caught:
        manifest_templates(source, {"data": {"x": "%%%"}}, addon="a", default_namespace="ns")
    assert caught.value.location.file == "Secret ns/creds:x"


def test_the_same_object_twice_is_refused(charts: ChartRenderer) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: x}\n"
    error = failure(addon(cm), charts, {"ConfigMap team-a/extra:dup.yaml": cm})
    assert error.location.file == "ConfigMap team-a/extra:dup.yaml"
    assert error.reason == "ConfigMap 'same' is rendered twice (also by manifests)"
