"""Rendering one add-on for one cluster: templates and chart in, Kubernetes objects out.

This is the single call the reconcile loop makes per add-on and cluster, from a worker thread::

    fetcher = ChartFetcher(cache_dir, file_root=Path.cwd())
    charts = ChartRenderer(fetcher)                       # shared by every worker
    context = TemplateContext(cluster=cluster_obj, resources={"cfg": cfg_obj})
    sources = manifest_templates(src, obj, addon=addon.name, default_namespace=bundle_ns)
    digest = charts.fetch(addon.name, addon.helm).digest if addon.helm else None
    if addon_input_hash(addon, context, sources, digest) != status_hash:
        rendered = render_addon(addon, context, manifests_from=sources, charts=charts)

`render_addon` renders, in this order: the Helm chart (``values`` string leaves templated,
then ``valuesTemplate`` rendered, parsed and merged over them by Helm's rule,
`function.model.values`, where ``null`` deletes a key; ``crds/`` first, templates by path),
the inline ``manifests``, then each ``manifestsFrom`` text. A templated ``values`` leaf stays
a string; numbers, booleans and structures computed from the cluster belong in
``valuesTemplate``. Any failure raises one `RenderError` (a `ChartError` for fetching)
naming the add-on, the file (``manifests``, ``values.image.tag``, ``valuesTemplate``,
``ConfigMap team-a/extra:app.yaml``, ``gpu-operator/templates/clusterpolicy.yaml``), the line
and the reason, and nothing of the add-on is returned: an add-on is applied whole or not at
all.

Objects keep the namespace their text gave them; filling in the add-on namespace for
namespaced kinds, and applying namespaces and CRDs first, is the apply step's job (it knows
the API's discovery data). Neighbours: `templates` (sandbox, context), `manifests` (YAML),
`helm` and `charts` (the chart), `hashing` (the input hash that gates this call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from function.errors import RenderError, SourceLocation
from function.kube.client import Capabilities
from function.model.bundle import AddonSpec, HelmSource
from function.model.objects import load_yaml_documents
from function.model.values import merge_values
from function.reconciler.chartaccess import RepositoryAccess
from function.reconciler.helm import ChartRenderer
from function.reconciler.manifests import parse_objects
from function.reconciler.templates import TemplateContext, redacted, render_template

DEFAULT_NAMESPACE = "default"
"""The release namespace of an add-on that names none, as with ``helm template``."""


@dataclass(frozen=True)
class RenderedAddon:
    """The objects of one add-on, in apply order, and the file each came from."""

    name: str
    objects: list[dict[str, Any]]
    sources: list[str]
    chart_digest: str | None = None


def render_addon(
    addon: AddonSpec,
    context: TemplateContext,
    *,
    manifests_from: Mapping[str, str],
    charts: ChartRenderer,
    capabilities: Capabilities | None = None,
    access: RepositoryAccess | None = None,
) -> RenderedAddon:
    """Render every source of ``addon``; raise `RenderError` at the first failure (its reason
    never quoting a value of a Secret the templates could read, whatever step failed).

    ``manifests_from`` maps `function.reconciler.manifests.source_label` labels to template
    texts, as `function.reconciler.manifests.manifest_templates` builds them; ``access``
    reaches a private chart repository.
    """
    try:
        return _render_addon(addon, context, manifests_from, charts, capabilities, access)
    except RenderError as exc:
        clean = redacted(exc, context.secret_values)
        if clean is exc:
            raise
        raise clean from None


def _render_addon(
    addon: AddonSpec,
    context: TemplateContext,
    manifests_from: Mapping[str, str],
    charts: ChartRenderer,
    capabilities: Capabilities | None,
    access: RepositoryAccess | None,
) -> RenderedAddon:
    objects: list[dict[str, Any]] = []
    sources: list[str] = []
    digest: str | None = None
    if addon.helm is not None:
        values = render_values(addon.name, addon.helm, context)
        namespace = addon.namespace or DEFAULT_NAMESPACE
        digest = charts.fetch(addon.name, addon.helm, access).digest
        rendered = charts.render(addon.name, addon.helm, values, namespace, capabilities, access)
        for item in rendered:
            objects.append(item.body)
            sources.append(item.file)
    texts = {"manifests": addon.manifests} if addon.manifests is not None else {}
    for file, template in {**texts, **manifests_from}.items():
        location = SourceLocation(addon.name, file)
        for body in parse_objects(render_template(template, context, location), location):
            objects.append(body)
            sources.append(file)
    _refuse_duplicates(addon.name, objects, sources)
    return RenderedAddon(addon.name, objects, sources, digest)


def render_values(addon: str, source: HelmSource, context: TemplateContext) -> dict[str, Any]:
    """The chart values: templated ``values`` with the rendered ``valuesTemplate`` over them."""
    values: dict[str, Any] = _render_leaves(addon, source.values, "values", context)
    if source.values_template is None:
        return values
    location = SourceLocation(addon, "valuesTemplate")
    text = render_template(source.values_template, context, location)
    documents = list(load_yaml_documents(text, location))
    if len(documents) > 1:
        raise RenderError(
            SourceLocation(addon, "valuesTemplate", documents[1][0]),
            "valuesTemplate must render one YAML document",
        )
    if documents and not isinstance(documents[0][1], dict):
        raise RenderError(
            SourceLocation(addon, "valuesTemplate", documents[0][0]),
            "valuesTemplate must render a YAML mapping",
        )
    return merge_values(values, documents[0][1]) if documents else values


def _render_leaves(addon: str, value: Any, path: str, context: TemplateContext) -> Any:
    if isinstance(value, str):
        return render_template(value, context, SourceLocation(addon, path))
    if isinstance(value, dict):
        return {k: _render_leaves(addon, v, f"{path}.{k}", context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_leaves(addon, v, f"{path}[{i}]", context) for i, v in enumerate(value)]
    return value


def _refuse_duplicates(addon: str, objects: list[dict[str, Any]], sources: list[str]) -> None:
    seen: dict[tuple[str, str, str, str], str] = {}
    for body, source in zip(objects, sources, strict=True):
        metadata = body["metadata"]
        key = (body["apiVersion"], body["kind"], metadata.get("namespace") or "", metadata["name"])
        if key in seen:
            raise RenderError(
                SourceLocation(addon, source),
                f"{body['kind']} {metadata['name']!r} is rendered twice (also by {seen[key]})",
            )
        seen[key] = source
