"""Hashes that let the reconciler skip work: steady state is zero renders and zero writes.

Two gates, both pure:

- `addon_hashes` — everything that decides what one add-on renders on one cluster: its spec,
  the context values its templates read, its ``manifestsFrom`` texts, the chart digest, the
  sync mode, the tier and the renderer's format version (the input hash), and the same without
  the target (the render key, shared by targets that render alike). The converger compares the
  input hash with the one in the bundle's status and renders only when it differs.
- `object_hash` — the "essence" of one desired object (Sveltos-style): server-populated
  metadata (``managedFields``, ``resourceVersion``, ``uid``, ``generation``,
  ``creationTimestamp`` …), ``status`` and our own ``addons.aifleet.io/`` annotations removed,
  keys sorted, SHA-256. The apply step stamps it as the `HASH_ANNOTATION` annotation
  (`with_hash_annotation`) and skips the write when the live object carries the same value
  (`recorded_hash`); the drift watch and DryRun's plan compare it the same way.
  Because annotations under `OWN_ANNOTATION_PREFIX` never count, metadata whose change must
  cause a write belongs in labels or under another prefix.

Neighbours: `function.reconciler.templates` (which context names a template reads) and the
apply/status modules that store and compare the hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from function.model.bundle import AddonSpec
from function.model.values import string_leaves
from function.reconciler.templates import TemplateContext, referenced_variables

OWN_ANNOTATION_PREFIX = "addons.aifleet.io/"
"""Annotations under this prefix are the reconciler's bookkeeping, never part of an essence."""

HASH_ANNOTATION = f"{OWN_ANNOTATION_PREFIX}hash"
"""The annotation holding `object_hash` of the object as last applied."""

RENDER_FORMAT = "1"
"""Bumped whenever rendering changes its output for the same input, to force a re-render."""

_SERVER_METADATA = frozenset(
    {
        "managedFields",
        "resourceVersion",
        "uid",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    }
)


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no whitespace, UTF-8 — the bytes of
    `_stdlib_json` (which every stored hash was made with), encoded by orjson where its
    bytes are those.

    orjson writes the same bytes for strings, integers within 64 bits, floats of magnitude
    1e-4 and up (both print the shortest repr) and sorted string keys. Otherwise it raises
    (a wider integer, a key that is not a string, nesting past 254) or may differ (a float
    closer to zero: ``1e-05`` against ``0.00001``), and the standard encoder decides. Datetimes
    and dataclasses go to ``default`` in both. A float that is not finite, which JSON cannot
    carry, is ``null`` as on the wire (the standard encoder wrote ``Infinity``). What is
    hashed is decoded JSON or YAML and JSON-mode model dumps: no Enum, which orjson would
    write as its value and the standard encoder as its name."""
    try:
        out = orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return _stdlib_json(value)
    return _stdlib_json(value) if _may_differ(out) else out


def _stdlib_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
_DIGITS = frozenset(b"0123456789")
_AFTER_NUMBER = frozenset(b",]}")


def _may_differ(out: bytes) -> bool:
    """Whether orjson's ``out`` may hold a float below 1e-4 in magnitude, which it writes
    otherwise than the standard encoder (``0.00001`` for ``1e-05``, ``5e-6`` for ``5e-06``):
    a ``0.0000``, or an exponent ``<digit>e-<digits>`` that ends where a number ends (a uid's
    ``…3e-4a…`` does not). A string holding one only costs the slower encoding. Searched
    with ``bytes.find``: a regular expression tries each position, five times slower."""
    if b"0.0000" in out:
        return True
    end = len(out)
    at = out.find(b"e-")
    while at > 0:
        if out[at - 1] in _DIGITS:
            after = at + 2
            while after < end and out[after] in _DIGITS:
                after += 1
            if after > at + 2 and (after == end or out[after] in _AFTER_NUMBER):
                return True
        at = out.find(b"e-", at + 2)
    return False


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def object_essence(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without status, server-populated metadata and our own annotations."""
    essence = {k: v for k, v in obj.items() if k != "status"}
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        kept = {k: v for k, v in metadata.items() if k not in _SERVER_METADATA}
        annotations = {
            k: v
            for k, v in (metadata.get("annotations") or {}).items()
            if not k.startswith(OWN_ANNOTATION_PREFIX)
        }
        kept.pop("annotations", None)
        if annotations:
            kept["annotations"] = annotations
        essence["metadata"] = kept
    return essence


def object_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of `object_essence`: equal for objects that apply the same way."""
    return _sha256(object_essence(obj))


def recorded_hash(obj: Mapping[str, Any]) -> str | None:
    """The `object_hash` an applied object carries (`HASH_ANNOTATION`), if any."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(HASH_ANNOTATION)
    return str(value) if value is not None else None


def with_hash_annotation(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` carrying its own `object_hash` as `HASH_ANNOTATION`."""
    metadata = dict(obj.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations[HASH_ANNOTATION] = object_hash(obj)
    metadata["annotations"] = annotations
    return {**obj, "metadata": metadata}


def addon_input_hash(
    addon: AddonSpec,
    context: TemplateContext,
    manifests_from: Mapping[str, str],
    chart_digest: str | None = None,
    *,
    sync_mode: str = "",
) -> str:
    """SHA-256 (hex) of everything that decides what ``addon`` renders with ``context``.

    ``manifests_from`` is the add-on's `manifest_templates` output and ``chart_digest`` the
    digest of its fetched chart (`function.reconciler.charts.FetchedChart.digest`). Context
    values that none of the add-on's templates reads are left out, so a change to them does
    not cause a re-render; the cluster's uid is always in, so a cluster recreated under the
    same name gets every add-on again.
    """
    return addon_hashes(addon, context, manifests_from, chart_digest, sync_mode=sync_mode)[0]


def addon_hashes(
    addon: AddonSpec,
    context: TemplateContext,
    manifests_from: Mapping[str, str],
    chart_digest: str | None = None,
    *,
    sync_mode: str = "",
    tier: int = 100,
) -> tuple[str, str]:
    """`addon_input_hash`, and the render key: the same inputs without the cluster's uid and
    the sync mode, which decide whether to render but not what renders — equal on every
    cluster whose add-on reads the same values (`function.reconciler.rendercache`)."""
    cluster_metadata = context.cluster.get("metadata") or {}
    rendered = {
        "addon": canonical_json(addon.to_dict()),
        "chart": canonical_json(chart_digest),
        "context": canonical_json(_read_context(addon, context, manifests_from)),
        "format": canonical_json(RENDER_FORMAT),
        "manifestsFrom": canonical_json(dict(manifests_from)),
    }
    target = {
        **rendered,
        # A cluster deleted and created again under its name is a new target.
        "cluster": canonical_json(cluster_metadata.get("uid")),
        # A dry run applies nothing: leaving it must apply, entering it must plan.
        "syncMode": canonical_json(sync_mode),
    }
    if tier != 100:  # stamped on the objects (`conflicts`); the default leaves hashes as were
        target["tier"] = canonical_json(tier)
    return _sha256_of_parts(target), _sha256_of_parts(rendered)


def _sha256_of_parts(parts: Mapping[str, bytes]) -> str:
    """`_sha256` of the mapping whose values' `canonical_json` are ``parts``."""
    body = b",".join(canonical_json(key) + b":" + parts[key] for key in sorted(parts))
    return hashlib.sha256(b"{" + body + b"}").hexdigest()


def _read_context(
    addon: AddonSpec, context: TemplateContext, manifests_from: Mapping[str, str]
) -> dict[str, Any]:
    variables = context.variables
    names: set[str] = set()
    for source in template_sources(addon, manifests_from):
        referenced = referenced_variables(source)
        if referenced is None:  # does not parse: rendering will say so; hash everything
            return variables
        names |= referenced
    return {name: variables[name] for name in sorted(names) if name in variables}


def template_sources(addon: AddonSpec, manifests_from: Mapping[str, str]) -> Iterator[str]:
    """Every template text of an add-on: values leaves, valuesTemplate, manifests, sources."""
    if addon.helm is not None:
        yield from string_leaves(addon.helm.values)
        if addon.helm.values_template is not None:
            yield addon.helm.values_template
    if addon.manifests is not None:
        yield addon.manifests
    yield from manifests_from.values()
