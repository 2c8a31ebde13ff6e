"""Kubernetes schemas generated from the pydantic models, so parser and schema cannot disagree.

`openapi_schema` turns a model's JSON schema into a *structural* OpenAPI v3 schema as
Kubernetes wants it: ``$ref`` inlined, ``anyOf [X, null]`` collapsed to X, no titles, no
``additionalProperties: false`` (the API server prunes unknown fields), free-form maps marked
``x-kubernetes-preserve-unknown-fields``, cross-field rules as ``x-kubernetes-validations``
(CEL). `generated_files` renders every schema-bearing file of the repository from it: the
XRDs of every XR kind in ``xrds/`` (v2 namespaced, and legacy v1 with a claim), and the
Input, AddonBundle, AIModelDeployment, EventSource and EventTrigger CRDs in ``package/``.
Regenerate with ``python -m function.model.schema --write``; a test asserts the
committed files are current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from function.model import bundle, bundlestatus, deployment, edge, events, training, xr, xrstatus
from function.model import input as fn_input

HEADER = "# Generated from function/model by `python -m function.model.schema --write`.\n"
_DROPPED = frozenset({"title", "additionalProperties", "$ref", "anyOf", "allOf", "$defs"})


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model`` (validation mode, camelCase names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _structural(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROPPED}
    if out.get("default", 0) is None:
        del out["default"]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "enum" in out and "type" not in out:
        out["type"] = "integer" if all(isinstance(v, int) for v in out["enum"]) else "string"
    if isinstance(out.get("exclusiveMinimum"), int | float):
        out["minimum"], out["exclusiveMinimum"] = out["exclusiveMinimum"], True
    if "properties" in out:
        out["properties"] = {k: _structural(v, defs) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = _structural(out["items"], defs)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:
        value = _structural(extra, defs)
        if value.get("x-kubernetes-preserve-unknown-fields"):
            out["x-kubernetes-preserve-unknown-fields"] = True
        else:
            out["additionalProperties"] = value
    elif extra is True or (
        not out.get("type")
        and "properties" not in out
        and "enum" not in out
        and not out.get("x-kubernetes-int-or-string")
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("type", "object")
    return dict(sorted(out.items()))


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Inline a ``$ref`` and collapse ``anyOf [X, null]``, keeping the field's own keywords."""
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(node.get("anyOf", [])) > 1 and len(options) != 1:
        raise ValueError(f"no structural schema for a union of {options}")
    target = options[0] if options else node
    if "$ref" in target:
        referenced = defs[target["$ref"].rsplit("/", 1)[1]]
        target = {**referenced, **{k: v for k, v in target.items() if k != "$ref"}}
    if target is node:
        return node
    own = {k: v for k, v in node.items() if k not in ("anyOf", "$ref")}
    return _resolve({**target, **own}, defs)


def _all_optional(schema: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k != "required"}
    if "properties" in out:
        out["properties"] = {k: _all_optional(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = _all_optional(out["items"])
    return out


# --- the generated files ----------------------------------------------------------------------


def _object_schema(description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "properties": properties,
        "required": ["spec"],
    }


def _kube_object(description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return _object_schema(
        description,
        apiVersion={"type": "string"},
        kind={"type": "string"},
        metadata={"type": "object"},
        **properties,
    )


CROSSPLANE_XR_COLUMNS = ("SYNCED", "READY", "COMPOSITION", "COMPOSITIONREVISION", "AGE")
"""Printer columns Crossplane puts on every XR's CRD, after an XRD's own (``xcrd``)."""
CROSSPLANE_CLAIM_COLUMNS = ("SYNCED", "READY", "CONNECTION-SECRET", "AGE")
"""Printer columns Crossplane puts on every claim's CRD, after the XRD's own."""

_XR_COLUMNS = [
    {"name": "PHASE", "type": "string", "jsonPath": ".status.phase"},
    {"name": "GPU", "type": "string", "jsonPath": ".spec.gpu.product"},
    {"name": "NODES", "type": "integer", "jsonPath": ".status.gpu.nodes"},
    {"name": "ADDONS", "type": "integer", "jsonPath": ".status.addons.ready"},
]
"""The XRDs' own columns; none may repeat one of Crossplane's."""


@dataclass(frozen=True)
class XRKind:
    """What the XRDs of one XR kind are generated from."""

    kind: str
    legacy_kind: str
    plural: str
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    composition: str
    """Default Composition of the v2 XRD; the legacy XRD's is ``x<composition>``."""


XR_KINDS = (
    XRKind(
        xr.KIND,
        xr.LEGACY_KIND,
        "aiinferenceclusters",
        xr.AIInferenceClusterSpec,
        xrstatus.AIInferenceClusterStatus,
        "An inference cluster: GPU nodes sized for its models, and the add-ons that serve them.",
        "aiinferencecluster-capi",
    ),
    XRKind(
        training.KIND,
        training.LEGACY_KIND,
        training.PLURAL,
        training.AITrainingClusterSpec,
        training.AITrainingClusterStatus,
        "A training cluster: GPU nodes sized for one model's training state, with Kueue, "
        "KubeRay and Kubeflow Trainer.",
        "aitrainingcluster-capi",
    ),
    XRKind(
        edge.KIND,
        edge.LEGACY_KIND,
        edge.PLURAL,
        edge.EdgeAIClusterSpec,
        edge.EdgeAIClusterStatus,
        "An edge site: a k3s or k0s cluster through Cluster API, with a small model server, "
        "messaging to the hub and telemetry.",
        "edgeaicluster-capi",
    ),
)


def _xr_version(kind: XRKind) -> dict[str, Any]:
    return {
        "name": xr.VERSION,
        "served": True,
        "referenceable": True,
        "additionalPrinterColumns": _XR_COLUMNS,
        "schema": {
            "openAPIV3Schema": _object_schema(
                kind.description,
                spec=openapi_schema(kind.spec),
                # Crossplane writes conditions into the XR's status before and beside ours,
                # so no status field may be required.
                status=_all_optional(openapi_schema(kind.status)),
            )
        },
    }


def xrd_v2(kind: XRKind = XR_KINDS[0]) -> dict[str, Any]:
    """The namespaced ``apiextensions.crossplane.io/v2`` XRD of ``kind``."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{xr.GROUP}"},
        "spec": {
            "scope": "Namespaced",
            "group": xr.GROUP,
            "names": {
                "kind": kind.kind,
                "plural": kind.plural,
                "categories": ["crossplane", "aifleet"],
            },
            "defaultCompositionRef": {"name": kind.composition},
            "versions": [_xr_version(kind)],
        },
    }


def xrd_legacy(kind: XRKind = XR_KINDS[0]) -> dict[str, Any]:
    """The ``apiextensions.crossplane.io/v1`` XRD of ``kind`` for Crossplane 1.x:
    cluster-scoped, claimed."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"x{kind.plural}.{xr.GROUP}"},
        "spec": {
            "group": xr.GROUP,
            "names": {
                "kind": kind.legacy_kind,
                "plural": f"x{kind.plural}",
                "categories": ["crossplane", "aifleet"],
            },
            "claimNames": {"kind": kind.kind, "plural": kind.plural},
            "defaultCompositionRef": {"name": f"x{kind.composition}"},
            "versions": [_xr_version(kind)],
        },
    }


def _crd(
    group: str, kind: str, plural: str, version: dict[str, Any], **names: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                **names,
            },
            "scope": "Namespaced",
            "versions": [{**version, "served": True, "storage": True}],
        },
    }


def input_crd() -> dict[str, Any]:
    """The CRD of the function's ``Input`` (its fields sit at the top level, beside kind)."""
    schema = openapi_schema(fn_input.FunctionInput)
    top = _kube_object(
        "The settings of one aifleet pipeline step in a Composition.", **schema["properties"]
    )
    del top["required"]
    return _crd(
        fn_input.GROUP,
        fn_input.KIND,
        "inputs",
        {"name": fn_input.VERSION, "schema": {"openAPIV3Schema": top}},
        categories=["crossplane"],
    )


def addon_bundle_crd() -> dict[str, Any]:
    """The CRD of ``AddonBundle``, with its status subresource."""
    status = openapi_schema(bundlestatus.AddonBundleStatus)
    entry = status["properties"]["clusters"]["items"]
    # A list map's key must be required (kube-apiserver refuses the CRD otherwise); the model
    # reads entries of older statuses without one, and every status written has it.
    entry["required"] = sorted({*entry.get("required", []), "key"})
    top = _kube_object(
        "Add-ons to apply to a cluster in dependency order, kept in sync by the reconciler.",
        spec=openapi_schema(bundle.AddonBundleSpec),
        status=status,
    )
    version = {
        "name": bundle.VERSION,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [
            {"name": "SYNC", "type": "string", "jsonPath": ".spec.syncMode"},
            {
                "name": "READY",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            },
            {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "schema": {"openAPIV3Schema": top},
    }
    return _crd(
        bundle.GROUP,
        bundle.KIND,
        "addonbundles",
        version,
        shortNames=["bundle"],
        categories=["aifleet"],
    )


def model_deployment_crd() -> dict[str, Any]:
    """The CRD of ``AIModelDeployment``, with its status subresource."""
    top = _kube_object(
        "A model served on whichever clusters of the fleet fit it best, placed by GPU "
        "product, memory, region and cost.",
        spec=openapi_schema(deployment.AIModelDeploymentSpec),
        status=openapi_schema(deployment.AIModelDeploymentStatus),
    )
    version = {
        "name": deployment.VERSION,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [
            {"name": "MODEL", "type": "string", "jsonPath": ".spec.model.name"},
            {"name": "PHASE", "type": "string", "jsonPath": ".status.phase"},
            {"name": "CLUSTER", "type": "string", "jsonPath": ".status.cluster"},
            {"name": "REPLICAS", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "GPUS", "type": "integer", "jsonPath": ".status.gpusHeld"},
            {
                "name": "ENDPOINT",
                "type": "string",
                "jsonPath": ".status.endpoint",
                "priority": 1,
            },
            {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "schema": {"openAPIV3Schema": top},
    }
    return _crd(
        deployment.GROUP,
        deployment.KIND,
        deployment.PLURAL,
        version,
        shortNames=["aimd"],
        categories=["aifleet"],
    )


def _event_crd(
    kind: str, plural: str, description: str, top: dict[str, Any], columns: list[dict[str, Any]]
) -> dict[str, Any]:
    version = {
        "name": bundle.VERSION,
        **({"subresources": {"status": {}}} if "status" in top["properties"] else {}),
        "additionalPrinterColumns": [
            *columns,
            {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "schema": {"openAPIV3Schema": {**top, "description": description}},
    }
    return _crd(bundle.GROUP, kind, plural, version, categories=["aifleet"])


def event_source_crd() -> dict[str, Any]:
    """The CRD of ``EventSource`` (Sveltos' fields; no status of its own)."""
    top = _kube_object("", spec=openapi_schema(events.EventSourceSpec))
    return _event_crd(
        events.EVENT_SOURCE_KIND,
        "eventsources",
        "Which objects of workload clusters are events, decided by Lua rules.",
        top,
        [
            {
                "name": "KIND",
                "type": "string",
                "jsonPath": ".spec.resourceSelectors[0].kind",
            },
            {"name": "COLLECT", "type": "boolean", "jsonPath": ".spec.collectResources"},
        ],
    )


def event_trigger_crd() -> dict[str, Any]:
    """The CRD of ``EventTrigger``, with its status subresource."""
    top = _kube_object(
        "",
        spec=openapi_schema(events.EventTriggerSpec),
        status=openapi_schema(events.EventTriggerStatus),
    )
    return _event_crd(
        events.EVENT_TRIGGER_KIND,
        "eventtriggers",
        "Add-ons instantiated on clusters while objects of an EventSource match.",
        top,
        [
            {"name": "SOURCE", "type": "string", "jsonPath": ".spec.eventSourceName"},
            {"name": "ONE-FOR-EVENT", "type": "boolean", "jsonPath": ".spec.oneForEvent"},
            {
                "name": "READY",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            },
        ],
    )


def generated_files() -> dict[str, str]:
    """Every generated file, by path relative to the repository root."""
    docs = {
        **{f"xrds/{kind.kind.lower()}.yaml": xrd_v2(kind) for kind in XR_KINDS},
        **{f"xrds/legacy/{kind.legacy_kind.lower()}.yaml": xrd_legacy(kind) for kind in XR_KINDS},
        "package/input/aifleet.fn.crossplane.io_inputs.yaml": input_crd(),
        "package/crds/addons.aifleet.io_addonbundles.yaml": addon_bundle_crd(),
        "package/crds/aifleet.io_aimodeldeployments.yaml": model_deployment_crd(),
        "package/crds/addons.aifleet.io_eventsources.yaml": event_source_crd(),
        "package/crds/addons.aifleet.io_eventtriggers.yaml": event_trigger_crd(),
    }
    return {path: HEADER + dump(doc) for path, doc in docs.items()}


class _Dumper(yaml.SafeDumper):
    """Writes every value out in full: no ``&id001`` anchors and ``*id001`` aliases where the
    same list appears twice (kubectl and the API server accept them, people and diffs don't)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(doc: Mapping[str, Any]) -> str:
    """YAML of a generated document: keys in their given order, no anchors or aliases."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with ``--check`` report which are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the files")
    mode.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files().items():
        path = args.root / relative
        if path.exists() and path.read_text() == text:
            continue
        stale.append(relative)
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "wrote" if args.write else "stale"
    for relative in stale:
        print(f"{verb}: {relative}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
