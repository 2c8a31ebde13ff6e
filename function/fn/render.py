"""`aifleet render`: run the function offline on files and print what Crossplane would compose.

`build_request` turns an XR, observed composed resources (matched to composition resource
names by their ``crossplane.io/composition-resource-name`` annotation, as ``crossplane render
--observed-resources`` does) and an optional Input into a `RunFunctionRequest`.
`format_response` prints the answer in ``crossplane render``'s format: the XR with its status
and conditions (times pinned to 2024-01-01), then each composed resource sorted by composition
resource name with the metadata Crossplane adds, then, on request, the results. `render_files`
runs the real `function.fn.runner.FunctionRunner` in-process; `function.demo` sends the same request
over gRPC instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.compose.kinds import KINDS
from function.errors import SpecError
from function.fn import wire
from function.fn.runner import FunctionRunner
from function.model.input import API_VERSION as INPUT_API_VERSION
from function.model.input import KIND as INPUT_KIND
from function.model.objects import load_documents
from function.model.xr import API_VERSION as XR_API_VERSION

RESOURCE_NAME_ANNOTATION = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"
PINNED_TIME = "2024-01-01T00:00:00Z"
STEP = "aifleet"
COMPOSED_KINDS = tuple((XR_API_VERSION, kind) for kind in KINDS)
"""The XRs ``render`` accepts: what the function's Compositions are written for."""
FATAL_EXIT_CODE = 3
"""What ``crossplane render`` exits with when a step returns a fatal result."""

_STATUS = {
    fnv1.STATUS_CONDITION_TRUE: "True",
    fnv1.STATUS_CONDITION_FALSE: "False",
    fnv1.STATUS_CONDITION_UNKNOWN: "Unknown",
}
_SEVERITY = {fnv1.SEVERITY_NORMAL: "Normal", fnv1.SEVERITY_WARNING: "Warning"}


@dataclass(frozen=True)
class Rendered:
    """The printable outcome of a render."""

    text: str
    fatal: str | None = None


def step_input(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Input of an Input document, or of this function's step in a Composition."""
    if doc.get("kind") != "Composition":
        return dict(doc)
    for step in (doc.get("spec") or {}).get("pipeline") or []:
        candidate = step.get("input") or {}
        if (candidate.get("apiVersion"), candidate.get("kind")) == (INPUT_API_VERSION, INPUT_KIND):
            return dict(candidate)
    raise SpecError.at("spec.pipeline", "the Composition has no step with an aifleet Input")


def build_request(
    xr: Mapping[str, Any],
    observed: Iterable[Mapping[str, Any]] = (),
    step: Mapping[str, Any] | None = None,
) -> fnv1.RunFunctionRequest:
    """The request Crossplane would send for ``xr`` with ``observed`` composed resources."""
    req = fnv1.RunFunctionRequest()
    wire.fill(req.observed.composite.resource, xr)
    for resource in observed:
        name = ((resource.get("metadata") or {}).get("annotations") or {}).get(
            RESOURCE_NAME_ANNOTATION
        )
        if not name:
            kind, meta = resource.get("kind"), resource.get("metadata") or {}
            raise SpecError.at(
                f"observed {kind} {meta.get('name')!r}",
                f"the {RESOURCE_NAME_ANNOTATION} annotation is missing",
            )
        wire.fill(req.observed.resources[name].resource, resource)
    if step is not None:
        wire.fill(req.input, step)
    return req


def format_response(
    xr: Mapping[str, Any], rsp: fnv1.RunFunctionResponse, *, include_results: bool = False
) -> Rendered:
    """The ``crossplane render`` output for a response to a request about ``xr``."""
    fatal = next((r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL), None)
    if fatal is not None:
        return Rendered("", f'pipeline step "{STEP}" returned a fatal result: {fatal}')
    docs = [_composite(xr, rsp)]
    docs += [
        _composed(xr, name, wire.to_dict(rsp.desired.resources[name].resource))
        for name in sorted(rsp.desired.resources)
    ]
    if include_results:
        docs += [_result(r) for r in rsp.results]
    text = "".join("---\n" + to_yaml(doc) for doc in docs)
    return Rendered(text)


def to_yaml(doc: Mapping[str, Any]) -> str:
    """A document as ``crossplane render`` prints it: sorted keys, multi-line text as blocks."""
    return yaml.dump(dict(doc), Dumper=_BlockDumper, sort_keys=True)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (manifests, embedded configs) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_str)


def render_files(
    xr_path: Path,
    observed_paths: Iterable[Path] = (),
    input_path: Path | None = None,
    *,
    include_results: bool = False,
) -> Rendered:
    """Render an XR file through the function in this process."""
    xr = _single(load_documents([xr_path]), xr_path)
    _check_composed_kind(xr, xr_path)
    step = step_input(_single(load_documents([input_path]), input_path)) if input_path else None
    req = build_request(xr, load_documents(observed_paths), step)
    rsp = asyncio.run(FunctionRunner().RunFunction(req))
    return format_response(xr, rsp, include_results=include_results)


def _check_composed_kind(xr: Mapping[str, Any], path: Path) -> None:
    """Only the XR kinds this function composes are rendered; anything else says which."""
    found = (xr.get("apiVersion"), xr.get("kind"))
    if found not in COMPOSED_KINDS:
        kinds = ", ".join(f"{api}/{kind}" for api, kind in COMPOSED_KINDS)
        raise SpecError.at(
            str(path), f"{found[0]}/{found[1]} is not an XR this function composes ({kinds})"
        )


def _single(docs: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    if len(docs) != 1:
        raise SpecError.at(str(path), f"expected one YAML document, found {len(docs)}")
    return docs[0]


def _composite(xr: Mapping[str, Any], rsp: fnv1.RunFunctionResponse) -> dict[str, Any]:
    desired = wire.to_dict(rsp.desired.composite.resource)
    unready = sorted(
        name for name, r in rsp.desired.resources.items() if r.ready != fnv1.READY_TRUE
    )
    ready = (
        {"type": "Ready", "status": "True", "reason": "Available"}
        if not unready
        else {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "message": f"Unready resources: {', '.join(unready)}",
        }
    )
    conditions = [ready] + [
        {
            "type": c.type,
            "status": _STATUS[c.status],
            "reason": c.reason,
            **({"message": c.message} if c.message else {}),
        }
        for c in rsp.conditions
    ]
    metadata = xr.get("metadata") or {}
    status = dict(desired.get("status") or {})
    status["conditions"] = [{**c, "lastTransitionTime": PINNED_TIME} for c in conditions]
    return {
        "apiVersion": xr.get("apiVersion"),
        "kind": xr.get("kind"),
        "metadata": {k: metadata[k] for k in ("name", "namespace") if metadata.get(k) is not None},
        "status": status,
    }


def _composed(xr: Mapping[str, Any], name: str, body: dict[str, Any]) -> dict[str, Any]:
    xr_meta = xr.get("metadata") or {}
    metadata = dict(body.get("metadata") or {})
    metadata["generateName"] = f"{xr_meta.get('name')}-"
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        RESOURCE_NAME_ANNOTATION: name,
    }
    labels = {**(metadata.get("labels") or {}), COMPOSITE_LABEL: xr_meta.get("name")}
    claim = (xr.get("spec") or {}).get("claimRef") or {}
    if claim:
        labels |= {
            CLAIM_NAMESPACE_LABEL: claim.get("namespace"),
            CLAIM_NAME_LABEL: claim.get("name"),
        }
    metadata["labels"] = labels
    if xr_meta.get("namespace"):
        metadata["namespace"] = xr_meta["namespace"]
    metadata["ownerReferences"] = [
        {
            "apiVersion": xr.get("apiVersion"),
            "kind": xr.get("kind"),
            "name": xr_meta.get("name"),
            "uid": xr_meta.get("uid", ""),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return {**body, "metadata": metadata}


def _result(result: fnv1.Result) -> dict[str, Any]:
    doc = {
        "apiVersion": "render.crossplane.io/v1beta1",
        "kind": "Result",
        "severity": _SEVERITY.get(result.severity, "Unspecified"),
        "message": result.message,
    }
    if result.HasField("reason"):
        doc["reason"] = result.reason
    return doc
