"""The committed CRDs and XRDs keep their CEL rules on whole objects.

Every example and every object a golden case composes, of a kind the repository defines,
passes the rules of the committed file for its kind; broken objects are refused at the rule's
place, as the API server would refuse them.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from function.model import bundle, xr
from function.model.schema import XR_KINDS
from tests.schema.cel import (
    _CLUSTER,
    _EVENT,
    _MODEL,
    _REF,
    _SELECTOR,
    _TRIGGER,
    _with,
    broken_rules,
    defaulted,
)

ROOT = Path(__file__).parents[2]
CRD_FILES = {
    "AddonBundle": "package/crds/addons.aifleet.io_addonbundles.yaml",
    "EventTrigger": "package/crds/addons.aifleet.io_eventtriggers.yaml",
    "EventSource": "package/crds/addons.aifleet.io_eventsources.yaml",
    "AIModelDeployment": "package/crds/aifleet.io_aimodeldeployments.yaml",
}


def committed_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema a committed XRD or CRD gives ``kind``."""
    if kind in CRD_FILES:
        relative = CRD_FILES[kind]
    elif kind.startswith("X"):
        relative = f"xrds/legacy/{kind.lower()}.yaml"
    else:
        relative = f"xrds/{kind.lower()}.yaml"
    doc = yaml.safe_load((ROOT / relative).read_text())
    schema: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def our_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every example and golden object of a kind the repository defines."""
    paths = [
        *sorted((ROOT / "examples").rglob("*.yaml")),
        *sorted((ROOT / "tests" / "cases").glob("*.yaml")),
    ]
    for path in paths:
        if "charts" in path.parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            if "response" in doc:  # a golden case: its composed objects
                resources = (doc["response"].get("desired") or {}).get("resources") or {}
                for name, resource in resources.items():
                    yield f"{path.name}:{name}", resource["resource"]
            elif "kind" in doc and "apiVersion" in doc:
                yield path.name, doc


SCHEMA_KINDS = {
    *CRD_FILES,
    *(k.kind for k in XR_KINDS),
    *(k.legacy_kind for k in XR_KINDS),
}


def _ours(obj: dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).split("/")[0]
    return group in (xr.GROUP, bundle.GROUP) and obj.get("kind") in SCHEMA_KINDS


OBJECTS = [pytest.param(obj, id=name) for name, obj in our_objects() if _ours(obj)]


def test_objects_of_every_kind_are_checked() -> None:
    kinds = {param.values[0]["kind"] for param in OBJECTS}
    assert {"AIInferenceCluster", "AddonBundle", "AIModelDeployment", "EventTrigger"} <= kinds


@pytest.mark.parametrize("obj", OBJECTS)
def test_every_example_and_composed_object_keeps_the_committed_rules(obj: dict[str, Any]) -> None:
    schema = committed_schema(obj["kind"])
    assert broken_rules(schema, defaulted(schema, obj)) == []


@pytest.mark.parametrize(
    ("kind", "spec", "path"),
    [
        ("AIInferenceCluster", {**_CLUSTER, "gpu": {"product": "L4", "minNodes": 5}}, ".spec.gpu"),
        ("XAIInferenceCluster", _with(_CLUSTER, provider="eks", capi=None), ".spec"),
        ("EdgeAICluster", _with(_CLUSTER, gpu=None, model=_MODEL), ".spec"),
        (
            "AITrainingCluster",
            {
                **_CLUSTER,
                "gpu": {"product": "H100", "count": 8, "sharing": "mig", "migProfile": "1g.10gb"},
                "model": {"name": "m", "parameters": "8B"},
            },
            ".spec.gpu",
        ),
        (
            "AIInferenceCluster",
            {**_CLUSTER, "models": [{**_MODEL, "parameters": "0.5M"}]},
            ".spec.models[0].parameters",
        ),
        ("AddonBundle", {"clusterSelector": _SELECTOR, "clusterRef": _REF}, ".spec"),
        ("AddonBundle", {"clusterRef": _REF, "addons": [{"name": "a"}]}, ".spec.addons[0]"),
        ("EventTrigger", {**_TRIGGER, "notifications": [_EVENT, _EVENT]}, ".spec"),
        ("AIModelDeployment", {"model": _MODEL, "onNoCapacity": "Provision"}, ".spec"),
    ],
)
def test_the_committed_files_refuse_at_the_rules_place(
    kind: str, spec: dict[str, Any], path: str
) -> None:
    schema = committed_schema(kind)
    obj = {"apiVersion": "v", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    assert [where for where, _ in broken_rules(schema, defaulted(schema, obj))] == [path]
