"""Helm values: layering them by Helm's rule, and reading the texts they hold.

The function lays the XR's ``spec.addons.values`` over the catalog's values
(`function.compose.addons`); the reconciler lays a rendered ``valuesTemplate`` over an
add-on's templated ``values`` (`function.reconciler.render`). Helm users write both the way
they write ``-f`` files, so both follow Helm: mappings merge key by key, anything else
replaces, and ``null`` deletes the key. Helm applies that last rule to the chart's own
defaults as well, which only the Helm engine holds; so a ``null`` with nothing beneath it to
delete stays in the result, and Helm removes the chart's default when it coalesces the values.

Both sides also need every string a values tree holds (`string_leaves`): the function to refuse
Jinja2 templates that only the reconciler renders (`function.compose.delivery.mode`), the
reconciler to learn which context names those templates read (`function.reconciler.hashing`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``; neither is modified."""
    merged = dict(base)
    for key, value in override.items():
        beneath = merged.get(key)
        if value is None and beneath is not None:
            del merged[key]
        elif isinstance(value, Mapping) and isinstance(beneath, Mapping):
            merged[key] = merge_values(beneath, value)
        else:
            merged[key] = value
    return merged


def string_leaves(value: Any) -> Iterator[str]:
    """Every string in ``value``, depth first: through mappings' values and lists' items."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)
