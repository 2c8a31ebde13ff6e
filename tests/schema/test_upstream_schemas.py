"""Every object a delivery mode emits validates against its upstream CRD's OpenAPI schema.

The CRDs under ``tests/schemas/`` are copied unmodified from provider-helm, provider-kubernetes
and Sveltos' addon-controller (each file's header names its repository, path and commit). The
objects come from the responses of every golden case, so each mode and scope is covered.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]
CASES = sorted((ROOT / "tests" / "cases").glob("*.yaml"))
DELIVERY_KINDS = {"Release", "Object", "ProviderConfig", "Profile", "ClusterProfile"}


def upstream_schemas() -> dict[tuple[str, str], tuple[dict[str, Any], str, bool]]:
    """(apiVersion, kind) → (openAPIV3Schema, scope, storage?) of every stored CRD version."""
    out = {}
    for path in sorted((ROOT / "tests" / "schemas").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            out[key] = (version["schema"]["openAPIV3Schema"], spec["scope"], version["storage"])
    return out


SCHEMAS = upstream_schemas()


def emitted() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in CASES:
        response = yaml.safe_load(path.read_text())["response"]
        for name, resource in ((response.get("desired") or {}).get("resources") or {}).items():
            yield path.stem, name, resource["resource"]


EMITTED = [item for item in emitted() if item[2]["kind"] in DELIVERY_KINDS]


def test_every_schema_file_names_its_source() -> None:
    for path in sorted((ROOT / "tests" / "schemas").glob("*.yaml")):
        assert "# Source: https://github.com/" in path.read_text().splitlines()[1], path.name


def test_the_cases_emit_every_delivery_kind_in_both_scopes() -> None:
    kinds = {(obj["apiVersion"], obj["kind"]) for _, _, obj in EMITTED}
    assert kinds == {key for key, (_, _, storage) in SCHEMAS.items() if storage}


@pytest.mark.parametrize("case,name,obj", EMITTED, ids=[f"{c}:{n}" for c, n, _ in EMITTED])
def test_emitted_object_validates_against_its_upstream_crd(
    case: str, name: str, obj: dict[str, Any]
) -> None:
    schema, scope, _ = SCHEMAS[(obj["apiVersion"], obj["kind"])]
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
    ]
    assert errors == []
    assert ("namespace" in obj["metadata"]) == (scope == "Namespaced")


def test_the_validation_refuses_what_the_crd_refuses() -> None:
    """The schemas are strict enough to catch a wrong shape (the test above can fail)."""
    schema, _, _ = SCHEMAS[("helm.m.crossplane.io/v1beta1", "Release")]
    release = {"apiVersion": "helm.m.crossplane.io/v1beta1", "kind": "Release", "spec": {}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(release))
    schema, _, _ = SCHEMAS[("config.projectsveltos.io/v1beta1", "Profile")]
    profile = {"spec": {"helmCharts": [{"chartName": "x"}], "syncMode": "Sometimes"}}
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(profile))) >= 2
