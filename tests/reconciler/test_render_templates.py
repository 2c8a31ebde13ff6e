"""The Jinja2 sandbox: the template context, the filters, and errors that point at the line."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from function.errors import RenderError, SourceLocation
from function.reconciler.templates import TemplateContext, render_template

CLUSTER: dict[str, Any] = {
    "apiVersion": "cluster.x-k8s.io/v1beta2",
    "kind": "Cluster",
    "metadata": {
        "name": "llama-eu",
        "namespace": "team-a",
        "labels": {"region": "eu-west-1", "env": "prod"},
        "annotations": {"owner": "ml-platform"},
        "managedFields": [{"manager": "capi"}],
    },
    "spec": {"topology": {"version": "v1.33.0"}},
}
HERE = SourceLocation("demo", "manifests")


def render(source: str, context: TemplateContext | None = None) -> str:
    return render_template(source, context or TemplateContext(cluster=CLUSTER), HERE)


def render_error(source: str, context: TemplateContext | None = None) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render(source, context)
    return caught.value


def test_cluster_has_convenience_keys_beside_its_metadata() -> None:
    text = render(
        "{{ cluster.name }}/{{ cluster.namespace }} {{ cluster.labels.region }}"
        " {{ cluster.metadata.labels.region }} {{ cluster.annotations.owner }}"
        " {{ cluster.spec.topology.version }}"
    )
    assert text == "llama-eu/team-a eu-west-1 eu-west-1 ml-platform v1.33.0"


def test_every_context_object_is_reachable_by_its_design_name() -> None:
    context = TemplateContext(
        cluster=CLUSTER,
        infrastructure={"kind": "OpenStackCluster", "spec": {"region": "RegionOne"}},
        control_plane={"kind": "KubeadmControlPlane", "spec": {"replicas": 3}},
        resources={"quota": {"data": {"gpus": "8"}}},
        resource={"metadata": {"name": "vllm-llama"}},
        matching_resources=[{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}],
    )
    text = render(
        "{{ infrastructure.spec.region }} {{ controlPlane.spec.replicas }}"
        " {{ resources.quota.data.gpus }} {{ resource.metadata.name }}"
        " {{ matchingResources | map(attribute='metadata.name') | join(',') }}",
        context,
    )
    assert text == "RegionOne 3 8 vllm-llama a,b"


def test_managed_fields_are_not_part_of_the_context() -> None:
    error = render_error("{{ cluster.metadata.managedFields }}")
    assert "managedFields" in error.reason


def test_an_absent_object_is_named_as_undefined() -> None:
    error = render_error("a: 1\nregion: {{ infrastructure.spec.region }}\n")
    assert error.location == SourceLocation("demo", "manifests", 2)
    assert error.reason == "undefined value: 'infrastructure' is undefined"
    assert str(error) == (
        "add-on 'demo', manifests:2: undefined value: 'infrastructure' is undefined"
    )


def test_a_missing_key_is_an_error_not_an_empty_string() -> None:
    error = render_error("x: 1\ny: 2\nz: {{ cluster.labels.zone }}")
    assert error.location.line == 3
    assert "has no attribute 'zone'" in error.reason


def test_dict_keys_win_over_dict_methods() -> None:
    context = TemplateContext(cluster=CLUSTER, resources={"pods": {"items": [1, 2], "keys": "k"}})
    assert render("{{ resources.pods.items | length }} {{ resources.pods.keys }}", context) == "2 k"


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cluster.__class__.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% set x = cluster.labels.update({'region': 'x'}) %}",
        "{{ cluster.metadata.labels.pop('region') }}",
    ],
)
def test_python_internals_and_mutation_are_out_of_reach(escape: str) -> None:
    error = render_error(f"kind: ConfigMap\n{escape}\n")
    assert error.location.line == 2
    assert error.reason.startswith(("not allowed in templates:", "undefined value:"))
    assert "unsafe" in error.reason or "is undefined" in error.reason
    assert CLUSTER["metadata"]["labels"] == {"region": "eu-west-1", "env": "prod"}


def test_helm_style_filters() -> None:
    text = render(
        "labels:{{ cluster.labels | toYaml | nindent(2) }}\n"
        "json: '{{ cluster.labels | toJson }}'\n"
        "b64: {{ cluster.name | b64enc }}\n"
        "back: {{ cluster.name | b64enc | b64dec }}\n"
        "zone: {{ cluster.labels.zone | default('none') }}\n"
        "region: {{ cluster.labels.region | required('region label needed') }}\n"
    )
    assert text == (
        "labels:\n  env: prod\n  region: eu-west-1\n"
        'json: \'{"env":"prod","region":"eu-west-1"}\'\n'
        f"b64: {base64.b64encode(b'llama-eu').decode()}\n"
        "back: llama-eu\n"
        "zone: none\n"
        "region: eu-west-1\n"
    )


def test_required_fails_with_the_authors_message() -> None:
    error = render_error("a: 1\nzone: {{ cluster.labels.zone | required('set the zone label') }}")
    assert error.location.line == 2
    assert error.reason == "required value missing: set the zone label"


def test_to_yaml_of_an_undefined_value_names_it() -> None:
    assert "'nothing' is undefined" in render_error("{{ nothing | toYaml }}").reason


def test_b64dec_of_garbage_is_a_render_error() -> None:
    assert "b64dec" in render_error("{{ 'not base64!' | b64dec }}").reason


def test_syntax_errors_carry_their_line() -> None:
    error = render_error("a: 1\nb: 2\n{% for x in cluster.labels %}\nc: 3\n")
    assert error.location.line == 4
    assert error.reason.startswith("template syntax error: Unexpected end of template")


def test_exceptions_in_expressions_are_reported_with_their_line() -> None:
    error = render_error("a: 1\nb: {{ 1 // 0 }}\n")
    assert error.location.line == 2
    assert error.reason == "ZeroDivisionError: integer division or modulo by zero"


def test_text_without_jinja_renders_to_itself() -> None:
    text = "data:\n  pem: |\n    -----BEGIN-----\n    abc\n\n"
    assert render(text) == text


def test_block_tags_leave_no_blank_lines() -> None:
    text = render(
        "items:\n{% for key, value in cluster.labels | dictsort %}\n  - {{ key }}={{ value }}\n"
        "{% endfor %}\nend: true\n"
    )
    assert text == "items:\n  - env=prod\n  - region=eu-west-1\nend: true\n"


def test_an_error_never_quotes_a_value_of_a_secret_the_template_reads() -> None:
    password = "s3cret-Val-9f2"
    secret = {"kind": "Secret", "data": {"password": base64.b64encode(password.encode()).decode()}}
    context = TemplateContext(cluster=CLUSTER, resources={"creds": secret})
    for source in (
        "{{ cluster.labels[resources.creds.data.password | b64dec] }}",
        "{{ cluster.labels[resources.creds.data.password] }}",
    ):
        error = render_error(source, context)
        assert error.reason == "undefined value: 'dict object' has no attribute '<redacted>'"
        assert password not in str(error)
        assert secret["data"]["password"] not in str(error)
        assert error.__cause__ is None  # nor does the chained Jinja2 error
    # A ConfigMap's values are not secret: they stay in the message.
    config = {"kind": "ConfigMap", "data": {"zone": "zone-b7"}}
    context = TemplateContext(cluster=CLUSTER, resources={"cfg": config})
    error = render_error("{{ cluster.labels[resources.cfg.data.zone] }}", context)
    assert "zone-b7" in error.reason
