"""Tenant templates: the Jinja2 sandbox, its filters, and the data templates see.

Add-on authors write Jinja2 in ``helm.values`` string leaves, ``helm.valuesTemplate``, inline
``manifests`` and ``manifestsFrom`` data. Those texts come from tenants, so they run in Jinja2's
`ImmutableSandboxedEnvironment` (no Python internals, no mutation of the context) with
`StrictUndefined` (a misspelt variable is an error, never an empty string).

Public surface, used by `function.reconciler.render` and `function.reconciler.hashing`:

- `TemplateContext` — what a template sees (design §5): ``cluster`` (with the convenience keys
  ``name``, ``namespace``, ``labels``, ``annotations``), ``infrastructure``, ``controlPlane``,
  ``resources[identifier]`` and, for event-driven add-ons, ``resource`` and
  ``matchingResources``. The reconciler fills it from what it read.
- `render_template(source, context, location)` — render one text; every failure becomes a
  `RenderError` naming the add-on, the file and the template line.
- `referenced_variables(source)` — the top-level names a template reads, so an input hash can
  ignore context that no template of the add-on uses.

Limits, so that one tenant's template cannot exhaust the shared reconciler, live in
`function.reconciler.template_limits`: sizes of what operators, filters and methods build,
checked before Python builds it, and the CPU time of one render; a rendered text may not
exceed `MAX_TEXT` characters. A template over a limit fails like any other: a `RenderError`
at its line, raised on the thread that renders it.

Filters beyond Jinja's built-ins (``default``, ``indent``, ``tojson`` …): ``toYaml``, ``toJson``,
``b64enc``, ``b64dec``, ``required`` and Helm's ``nindent``. Templates render with
``trim_blocks``/``lstrip_blocks`` (block tags leave no blank lines in YAML) and keep a trailing
newline, so a text without Jinja syntax renders to itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import traceback
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, NoReturn, cast

import yaml
from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    meta,
)
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from function.errors import RenderError, SourceLocation
from function.reconciler.template_limits import (
    MAX_ITEMS,
    MAX_NUMBER_BITS,
    MAX_TEXT,
    RENDER_CPU_SECONDS,
    BoundedCodeGenerator,
    TemplateLimitError,
    bounded_lipsum,
    check_method,
    check_operation,
    check_str_format,
    check_text,
    guard_filter,
    start_budget,
    stop_budget,
    text_weight,
    tick,
    within_limit,
)

__all__ = [
    "MAX_ITEMS",
    "MAX_NUMBER_BITS",
    "MAX_TEXT",
    "RENDER_CPU_SECONDS",
    "TemplateContext",
    "TemplateLimitError",
    "is_template",
    "redacted",
    "referenced_variables",
    "render_template",
]

_TEMPLATE_FILENAME = "<template>"
"""The filename Jinja2 gives templates compiled from strings; their frames carry the line."""

_VOLATILE_METADATA = ("managedFields", "resourceVersion")
"""Metadata templates never need; in the context they would only bloat it and churn its hash."""


@dataclass(frozen=True)
class TemplateContext:
    """The objects a template can read, as plain dicts from the management cluster.

    ``resources`` maps each ``templateResourceRefs`` identifier to the object read for it.
    Fields left ``None`` are absent from the template namespace, so using them fails with
    "'infrastructure' is undefined" rather than a confusing attribute error on ``None``.
    """

    cluster: Mapping[str, Any]
    infrastructure: Mapping[str, Any] | None = None
    control_plane: Mapping[str, Any] | None = None
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resource: Mapping[str, Any] | None = None
    matching_resources: Sequence[Mapping[str, Any]] = ()

    @cached_property
    def variables(self) -> dict[str, Any]:
        """The template namespace: camelCase names, as add-on authors write them."""
        names: dict[str, Any] = {"cluster": _cluster_view(self.cluster)}
        if self.infrastructure is not None:
            names["infrastructure"] = _plain_object(self.infrastructure)
        if self.control_plane is not None:
            names["controlPlane"] = _plain_object(self.control_plane)
        names["resources"] = {key: _plain_object(obj) for key, obj in self.resources.items()}
        if self.resource is not None:
            names["resource"] = _plain_object(self.resource)
        if self.matching_resources:
            names["matchingResources"] = [_plain_object(o) for o in self.matching_resources]
        return names

    @cached_property
    def secret_values(self) -> tuple[str, ...]:
        """The values of every Secret the context holds, encoded and decoded, longest first:
        an error message that quotes one (``'dict object' has no attribute 's3cret'``) has
        it replaced before the message reaches status, events or logs."""
        found: set[str] = set()
        objects = [*self.resources.values(), *self.matching_resources]
        for obj in [*objects, *([self.resource] if self.resource is not None else [])]:
            if obj.get("kind") != "Secret":
                continue
            for key in ("data", "stringData"):
                for value in (obj.get(key) or {}).values():
                    found.update(_secret_forms(str(value), encoded=key == "data"))
        return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_CHARS), key=len)[::-1])


MIN_SECRET_CHARS = 4
"""Shorter Secret values are not searched for in error messages (they would match words)."""
REDACTED = "<redacted>"


def _secret_forms(value: str, *, encoded: bool) -> list[str]:
    forms = [value]
    if encoded:
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            forms.append(base64.b64decode(value, validate=True).decode())
    return [*forms, *(repr(f)[1:-1] for f in forms)]  # also as Python quotes escape it


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by ``<redacted>``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redacted(error: RenderError, secrets: Sequence[str]) -> RenderError:
    """``error`` (or a copy of it, of the same class) whose reason quotes none of ``secrets``."""
    reason = redact(error.reason, secrets)
    if reason == error.reason:
        return error
    clean = type(error).__new__(type(error), f"{error.location}: {reason}")
    clean.__dict__.update(error.__dict__, reason=reason)
    return clean


def _plain_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not any(k in metadata for k in _VOLATILE_METADATA):
        return dict(obj)
    kept = {k: v for k, v in metadata.items() if k not in _VOLATILE_METADATA}
    return {**obj, "metadata": kept}


def _cluster_view(cluster: Mapping[str, Any]) -> dict[str, Any]:
    view = _plain_object(cluster)
    metadata = view.get("metadata") or {}
    view.update(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        labels=metadata.get("labels") or {},
        annotations=metadata.get("annotations") or {},
    )
    return view


# --- the sandbox ----------------------------------------------------------------------------


class RequiredValueError(TemplateError):
    """Raised by the ``required`` filter with the author's message."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with dict keys winning over dict methods, and limits.

    ``obj.items`` on a Kubernetes List, or ``cfg.values`` on chart values, means the key, not
    the ``dict`` method of the same name. Everything else goes through the sandbox's checks.
    ``*``, ``+``, ``**``, ``%`` (through the sandbox's operator interception), ``~`` (through
    the code generator), calls of ``str`` methods and ``str.format`` check the size of their
    result first; calls and loops (through the code generator) tick the CPU budget.
    """

    intercepted_binops = frozenset({"*", "+", "**", "%"})
    code_generator_class = BoundedCodeGenerator

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_operation(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        tick()
        return super().call(__context, __obj, *check_method(__obj, args), **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            check_str_format(template, args, kwargs)
            return wrapped(*args, **kwargs)

        return bounded

    def bounded_concat(self, text: str) -> str:
        """What ``~`` joined, if it is within `MAX_TEXT`."""
        within_limit("~", "string", len(text))
        return text

    def tick(self) -> None:
        """One loop iteration: a step of the render's CPU budget."""
        tick()

    def ticked(self) -> bool:
        """One test of a loop filter: a step of the render's CPU budget."""
        tick()
        return True


def _fail_if_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable


def _to_yaml(value: Any) -> str:
    _fail_if_undefined(value)
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _to_json(value: Any) -> str:
    _fail_if_undefined(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _b64enc(value: Any) -> str:
    _fail_if_undefined(value)
    return base64.b64encode(str(value).encode()).decode()


def _b64dec(value: Any) -> str:
    _fail_if_undefined(value)
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TemplateError(f"b64dec: not base64-encoded UTF-8 text ({exc})") from None


def _required(value: Any, message: str = "a required value is missing") -> Any:
    if isinstance(value, Undefined) or value is None or value == "":
        raise RequiredValueError(message)
    return value


def _nindent(value: Any, width: int = 4) -> str:
    """Helm's ``nindent``: a newline, then every line indented by ``width`` spaces."""
    _fail_if_undefined(value)
    pad = " " * width
    return "\n" + pad + str(value).replace("\n", "\n" + pad)


def _finalize(value: Any) -> Any:
    """Every printed value: its text must fit the limit (a list prints as its repr)."""
    if not isinstance(value, str):
        check_text("printing a value", text_weight(value))
    return value


def _make_environment() -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(
        toYaml=_to_yaml,
        toJson=_to_json,
        b64enc=_b64enc,
        b64dec=_b64dec,
        required=_required,
        nindent=_nindent,
    )
    env.filters = {name: guard_filter(name, fn) for name, fn in env.filters.items()}
    env.globals["lipsum"] = bounded_lipsum(cast(Callable[..., str], env.globals["lipsum"]))
    return env


_ENV = _make_environment()
"""One environment for every template: its configuration never changes after start-up."""


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def is_template(text: str) -> bool:
    """Whether ``text`` contains Jinja2 syntax; other text renders to itself."""
    return "{{" in text or "{%" in text or "{#" in text


def render_template(source: str, context: TemplateContext, location: SourceLocation) -> str:
    """Render ``source`` with ``context``; raise `RenderError` at ``location``'s file and line,
    its reason never quoting a value of a Secret in the context."""
    if not is_template(source):
        return source
    try:
        return _render(source, context, location)
    except RenderError as exc:
        clean = redacted(exc, context.secret_values)
        if clean is exc:
            raise
        raise clean from None


def _render(source: str, context: TemplateContext, location: SourceLocation) -> str:
    try:
        template = _compile(source)
        start_budget()
        try:
            return _render_within_limit(template, context.variables)
        finally:
            stop_budget()
    except TemplateSyntaxError as exc:
        _fail(location, exc.lineno, f"template syntax error: {exc.message}", exc)
    except UndefinedError as exc:
        _fail(location, _template_line(exc), f"undefined value: {exc.message}", exc)
    except SecurityError as exc:
        _fail(location, _template_line(exc), f"not allowed in templates: {exc}", exc)
    except RequiredValueError as exc:
        _fail(location, _template_line(exc), f"required value missing: {exc.message}", exc)
    except TemplateLimitError as exc:
        _fail(location, _template_line(exc), f"template limit: {exc.message}", exc)
    except TemplateError as exc:
        _fail(location, _template_line(exc), exc.message or type(exc).__name__, exc)
    except Exception as exc:  # a tenant's expression raised (1/0, int('x') ...): report it
        _fail(location, _template_line(exc), f"{type(exc).__name__}: {exc}", exc)


def _render_within_limit(template: Template, variables: Mapping[str, Any]) -> str:
    """The rendered text, streamed so that rendering stops once it exceeds `MAX_TEXT`.

    The error is thrown into the template where it produced the text that went over, so that
    its traceback, like any other, carries the template line.
    """
    stream = cast(Generator[str, None, None], template.generate(variables))
    chunks: list[str] = []
    size = 0
    for chunk in stream:
        size += len(chunk)
        if size > MAX_TEXT:
            stream.throw(
                TemplateLimitError(
                    f"the rendered text is over the limit of {MAX_TEXT:,} characters"
                )
            )
        chunks.append(chunk)
    return "".join(chunks)


def _fail(location: SourceLocation, line: int | None, reason: str, cause: Exception) -> NoReturn:
    raise RenderError(SourceLocation(location.addon, location.file, line), reason) from cause


def _template_line(exc: BaseException) -> int | None:
    """The template line Jinja2 wrote into the traceback of a runtime error."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename == _TEMPLATE_FILENAME
    ]
    return frames[-1].lineno if frames else None


@lru_cache(maxsize=1024)
def referenced_variables(source: str) -> frozenset[str] | None:
    """Top-level context names ``source`` reads, or None when it does not parse."""
    if not is_template(source):
        return frozenset()
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError:
        return None
