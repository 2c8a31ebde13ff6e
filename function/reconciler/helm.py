"""Rendering Helm charts with the real Helm engine into the objects an add-on applies.

`ChartRenderer.render(addon, source, values, namespace)` fetches the chart through a
`ChartFetcher`, renders it as ``helm template`` would — the add-on's values coalesced over the
chart's defaults by Helm itself, ``.Release.Name`` = ``releaseName`` or the add-on name,
``.Release.Namespace`` = the add-on namespace, ``.Release.IsInstall`` true — and returns
`ChartObject`s: the ``crds/`` files first, then every template sorted by path, each file's
documents in order. ``skipCrds`` leaves out every ``crds/`` directory (the chart's and its
subcharts'), as ``helm install --skip-crds``. Dropped: empty documents, ``NOTES.txt``, and hooks
that belong to Helm's own lifecycle rather than to an install (``test``, ``pre-``/``post-delete``,
``pre-``/``post-rollback``). Install and upgrade hooks are never applied as ordinary objects:
Helm runs them as phases it waits on, which a converged set of objects cannot honour, so a chart
rendering them is refused with a `RenderError` naming each hook, its phases and file — unless
the add-on says ``hooks: Skip``, which leaves them out as ``helm install --no-hooks`` does.

Two engines, both Helm's own code:

- `BinaryEngine` — ``helm template`` when a ``helm`` binary is on PATH (the image installs one);
- `SdkEngine` — helm-python-sdk (Helm v4's engine through ctypes) otherwise. Loading a chart is
  the slow part, so loaded charts are kept per digest (thread-safe, bounded).

A template error becomes a `RenderError` naming the chart file and line Helm reported
(``gpu-operator/templates/clusterpolicy.yaml:12``). Neighbours: `function.reconciler.charts`
(fetching), `function.reconciler.manifests` (YAML → objects), `function.reconciler.render`
(the caller).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import helm_python as helm
from helm_python import _native

from function.errors import ChartRenderError, RenderError, SourceLocation
from function.kube.client import Capabilities
from function.model.bundle import HelmHooks, HelmSource
from function.reconciler.chartaccess import RepositoryAccess
from function.reconciler.charts import ChartFetcher, FetchedChart
from function.reconciler.manifests import parse_objects

_HOOK_ANNOTATION = "helm.sh/hook"
_LIFECYCLE_HOOKS = frozenset(
    {"test", "test-success", "test-failure", "pre-delete", "post-delete"}
    | {"pre-rollback", "post-rollback"}
)
_HELM_LOCATION = re.compile(r"(?P<file>[\w.-]+/(?:[\w.-]+/)*[\w.-]+\.\w+):(?P<line>\d+)")
"""``chart/templates/x.yaml:12`` inside Helm's messages (``parse error at (…:12)`` and co)."""
_SOURCE_HEADER = re.compile(r"^# Source: (?P<file>\S+)\s*$", re.MULTILINE)
_CRD_FILE = re.compile(r"^[^/]+/crds/|/charts/[^/]+/crds/")


@dataclass(frozen=True)
class Release:
    """The release a chart is rendered for."""

    name: str
    namespace: str
    capabilities: Capabilities | None = None
    """The workload cluster's version and APIs (None: Helm's built-in defaults)."""
    include_crds: bool = True
    """Whether the ``crds/`` directories are rendered (False: ``skipCrds``)."""


@dataclass(frozen=True)
class ChartFiles:
    """What an engine rendered: ``(file, text)`` pairs of ``crds/`` and of templates."""

    crds: tuple[tuple[str, str], ...]
    templates: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChartObject:
    """One object a chart rendered and the chart file it came from."""

    file: str
    body: dict[str, Any]


class HelmEngine(Protocol):
    """Renders a fetched chart offline, as ``helm template`` does."""

    def render(
        self, chart: FetchedChart, values: Mapping[str, Any], release: Release
    ) -> ChartFiles:
        """Raise ``helm.HelmError`` (or `RenderError`) when the chart fails to render."""
        ...


class SdkEngine:
    """Helm's engine through helm-python-sdk; keeps recently loaded charts per digest."""

    def __init__(self, max_charts: int = 64) -> None:
        """Keep at most ``max_charts`` loaded charts (least recently used goes first)."""
        self._charts: OrderedDict[str, helm.Chart] = OrderedDict()
        self._max_charts = max_charts
        self._lock = threading.Lock()

    def _load(self, chart: FetchedChart) -> helm.Chart:
        with self._lock:
            loaded = self._charts.get(chart.digest)
            if loaded is not None:
                self._charts.move_to_end(chart.digest)
                return loaded
        loaded = helm.Chart.load(chart.path)  # outside the lock: loads run in parallel
        with self._lock:
            self._charts[chart.digest] = loaded
            while len(self._charts) > self._max_charts:
                self._charts.popitem(last=False)  # closed by its finalizer once unused
        return loaded

    def render(
        self, chart: FetchedChart, values: Mapping[str, Any], release: Release
    ) -> ChartFiles:
        """Render with the chart handle cached for ``chart.digest``."""
        loaded = self._load(chart)
        opts: dict[str, Any] = {
            "name": release.name,
            "namespace": release.namespace,
            "is_install": True,
        }
        if release.capabilities is not None:
            opts["kube_version"] = release.capabilities.kube_version
            opts["api_versions"] = list(release.capabilities.api_versions)
        # `Chart.render` does not pass Capabilities on; helm_render, which it wraps, reads them.
        text = _native.call_string(
            "helm_render", loaded._raw(), json.dumps(dict(values)), json.dumps(opts)
        )
        rendered: dict[str, str] = json.loads(text)
        crds = sorted((crd["filename"], crd["data"]) for crd in loaded.crds)
        if not release.include_crds:
            crds = []
        return ChartFiles(tuple(crds), tuple(sorted(rendered.items())))


class BinaryEngine:
    """Helm's engine as the ``helm template`` command."""

    def __init__(self, executable: str, timeout: float = 120.0) -> None:
        """Run ``executable`` with at most ``timeout`` seconds per render."""
        self._executable = executable
        self._timeout = timeout

    def render(
        self, chart: FetchedChart, values: Mapping[str, Any], release: Release
    ) -> ChartFiles:
        """Run ``helm template --skip-tests`` (``--include-crds`` unless ``skipCrds``) and split
        its output by file."""
        with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
            json.dump(dict(values), values_file)
            values_file.flush()
            command = [
                self._executable,
                "template",
                release.name,
                str(chart.path),
                "--namespace",
                release.namespace,
                "--values",
                values_file.name,
                "--skip-tests",
            ]
            if release.include_crds:
                command.append("--include-crds")
            if release.capabilities is not None:
                command += ["--kube-version", release.capabilities.kube_version]
                for api_version in release.capabilities.api_versions:
                    command += ["--api-versions", api_version]
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=self._timeout, check=False
                )
            except subprocess.TimeoutExpired:
                raise helm.HelmRenderError(
                    f"helm template did not finish in {self._timeout:g} s"
                ) from None
        if done.returncode != 0:
            raise helm.HelmRenderError(done.stderr.strip().removeprefix("Error: "))
        return split_template_output(done.stdout)


def split_template_output(text: str) -> ChartFiles:
    """``helm template`` output → `ChartFiles`, by its ``# Source:`` headers."""
    crds: list[tuple[str, str]] = []
    templates: dict[str, str] = {}
    headers = list(_SOURCE_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        file, body = header["file"], text[header.end() : end]
        if _CRD_FILE.search(file):
            crds.append((file, body))
        else:
            templates[file] = templates.get(file, "") + body
    return ChartFiles(tuple(sorted(crds)), tuple(sorted(templates.items())))


def default_engine() -> HelmEngine:
    """The ``helm`` binary when it is on PATH, else helm-python-sdk."""
    executable = shutil.which("helm")
    return BinaryEngine(executable) if executable else SdkEngine()


class ChartRenderer:
    """Fetches and renders the chart of an add-on. Safe to share between threads."""

    def __init__(self, fetcher: ChartFetcher, engine: HelmEngine | None = None) -> None:
        """Render with ``engine`` (default: `default_engine`)."""
        self.fetcher = fetcher
        self.engine = engine or default_engine()

    def fetch(
        self, addon: str, source: HelmSource, access: RepositoryAccess | None = None
    ) -> FetchedChart:
        """The add-on's chart, fetched (with ``access`` to a private repository) or from the
        cache; its digest feeds the input hash."""
        return self.fetcher.fetch(source, addon=addon, access=access)

    def render(
        self,
        addon: str,
        source: HelmSource,
        values: Mapping[str, Any],
        namespace: str,
        capabilities: Capabilities | None = None,
        access: RepositoryAccess | None = None,
    ) -> list[ChartObject]:
        """The objects the chart renders for ``values`` (already templated by the caller),
        against the target cluster's ``capabilities`` as an install into it would."""
        chart = self.fetch(addon, source, access)
        release = Release(
            source.release_name or addon, namespace, capabilities, not source.skip_crds
        )
        try:
            files = self.engine.render(chart, values, release)
        except helm.HelmError as exc:
            raise _render_error(addon, source, exc.detail) from exc
        try:
            objects = [*_objects(addon, files.crds), *_objects(addon, files.templates)]
        except RenderError as exc:  # what the chart rendered is not Kubernetes YAML
            raise ChartRenderError(exc.location, exc.reason) from exc
        hooks = [item for item in objects if hook_events(item.body)]
        if hooks and source.hooks is HelmHooks.REFUSE:
            raise _hooks_refused(addon, source, hooks)
        return [item for item in objects if not hook_events(item.body)]


def _objects(addon: str, files: tuple[tuple[str, str], ...]) -> Iterator[ChartObject]:
    for file, text in files:
        if file.endswith("NOTES.txt"):
            continue
        for body in parse_objects(text, SourceLocation(addon, file)):
            events = hook_events(body)
            if not events or not events <= _LIFECYCLE_HOOKS:
                yield ChartObject(file, body)


def hook_events(body: Mapping[str, Any]) -> frozenset[str]:
    """The ``helm.sh/hook`` events an object is annotated with (empty: not a hook)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    events = {e.strip() for e in str(annotations.get(_HOOK_ANNOTATION, "")).split(",")}
    events.discard("")
    return frozenset(events)


def _hooks_refused(addon: str, source: HelmSource, hooks: list[ChartObject]) -> ChartRenderError:
    named = "; ".join(
        f"{item.body.get('kind')} {(item.body.get('metadata') or {}).get('name')!r} "
        f"({', '.join(sorted(hook_events(item.body)))}) in {item.file}"
        for item in hooks
    )
    return ChartRenderError(
        SourceLocation(addon, hooks[0].file),
        f"chart {source.chart}:{source.version} renders Helm hooks, which the reconciler does "
        f"not run as Helm would (in phases, waiting on each): {named}; set helm.hooks: Skip to "
        "leave them out, as helm install --no-hooks does",
    )


def _render_error(addon: str, source: HelmSource, detail: str) -> ChartRenderError:
    """Helm's message, located at the first ``file:line`` it names (else at the chart)."""
    found = _HELM_LOCATION.search(detail)
    if found is None:
        where = SourceLocation(addon, f"chart {source.chart}:{source.version}")
        return ChartRenderError(where, detail)
    location = SourceLocation(addon, found["file"], int(found["line"]))
    return ChartRenderError(location, detail)
