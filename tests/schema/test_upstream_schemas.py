"""Every object a delivery mode or a cloud family emits validates against its upstream CRD.

The CRDs under ``tests/schemas/`` come from Cluster API, provider-helm, provider-kubernetes,
Sveltos' addon-controller and the upbound providers for AWS, Google Cloud and Azure (each
file's header names its repository, path and commit, and says if versions other than the
storage version were left out). The objects come from the responses of every golden case, so
each mode, family and scope is covered; the example ClusterClasses are checked too. The
OpenAPI part is checked with ``jsonschema``, the CRDs' CEL rules (``x-kubernetes-validations``)
with ``cel-python``, each rule with ``self`` bound to the value at its place after the
schema's defaults are applied, as the API server does.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]
CASES = sorted((ROOT / "tests" / "cases").glob("*.yaml"))
UPSTREAM_GROUPS = ("crossplane.io", "projectsveltos.io", "upbound.io", "cluster.x-k8s.io")
"""Groups whose every emitted kind must have its upstream CRD here."""
EXAMPLE_KINDS = {("cluster.x-k8s.io/v1beta2", "ClusterClass")}
"""Stored for the examples a platform team starts from, not emitted by the function."""


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


EMITTED = [
    item for item in emitted() if item[2]["apiVersion"].split("/")[0].endswith(UPSTREAM_GROUPS)
]
CEL = celpy.Environment()


def defaulted(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with the schema's ``default``s filled in where a field is absent."""
    if isinstance(value, dict):
        out = dict(value)
        for key, child in (schema.get("properties") or {}).items():
            if key in out:
                out[key] = defaulted(child, out[key])
            elif "default" in child:
                out[key] = defaulted(child, child["default"])
        return out
    if isinstance(value, list) and "items" in schema:
        return [defaulted(schema["items"], item) for item in value]
    return value


def cel_errors(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """The CEL rules of ``schema`` and its descendants that ``value`` breaks."""
    errors = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:  # a transition rule: checked on update only
            continue
        program = CEL.program(CEL.compile(rule["rule"]))
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
            holds = not isinstance(result, Exception) and bool(result)
        except celpy.CELEvalError:  # the API server refuses a rule it cannot evaluate, too
            holds = False
        if not holds:
            errors.append(f"{path or '.'}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key in value:
                errors += cel_errors(child, value[key], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += cel_errors(schema["items"], item, f"{path}[{i}]")
    return errors


def test_every_schema_file_names_its_source() -> None:
    for path in sorted((ROOT / "tests" / "schemas").glob("*.yaml")):
        assert "# Source: https://github.com/" in path.read_text().splitlines()[1], path.name


def test_the_cases_emit_every_stored_kind_in_both_scopes() -> None:
    kinds = {(obj["apiVersion"], obj["kind"]) for _, _, obj in EMITTED}
    stored = {key for key, (_, _, storage) in SCHEMAS.items() if storage}
    assert stored - EXAMPLE_KINDS <= kinds
    assert kinds <= set(SCHEMAS)
    # Cluster API's older served version is emitted too (the Input's capiApiVersion: v1beta1).
    assert ("cluster.x-k8s.io/v1beta1", "Cluster") in kinds


EXAMPLE_CLUSTERCLASSES = [
    doc
    for path in sorted((ROOT / "examples" / "clusterclasses").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc and doc.get("kind") == "ClusterClass"
]


@pytest.mark.parametrize(
    "clusterclass",
    EXAMPLE_CLUSTERCLASSES,
    ids=[c["metadata"]["name"] for c in EXAMPLE_CLUSTERCLASSES],
)
def test_the_example_clusterclasses_validate_against_cluster_apis_crd(
    clusterclass: dict[str, Any],
) -> None:
    schema, _, _ = SCHEMAS[(clusterclass["apiVersion"], clusterclass["kind"])]
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(clusterclass)
    ]
    assert errors == []
    assert cel_errors(schema, defaulted(schema, clusterclass)) == []


@pytest.mark.parametrize("case,name,obj", EMITTED, ids=[f"{c}:{n}" for c, n, _ in EMITTED])
def test_emitted_object_validates_against_its_upstream_crd(
    case: str, name: str, obj: dict[str, Any]
) -> None:
    key = (obj["apiVersion"], obj["kind"])
    assert key in SCHEMAS, f"no upstream CRD under tests/schemas/ for {key}"
    schema, scope, _ = SCHEMAS[key]
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
    ]
    assert errors == []
    assert cel_errors(schema, defaulted(schema, obj)) == []
    assert ("namespace" in obj["metadata"]) == (scope == "Namespaced")


def test_the_validation_refuses_what_the_crd_refuses() -> None:
    """The schemas are strict enough to catch a wrong shape (the test above can fail)."""
    schema, _, _ = SCHEMAS[("helm.m.crossplane.io/v1beta1", "Release")]
    release = {"apiVersion": "helm.m.crossplane.io/v1beta1", "kind": "Release", "spec": {}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(release))
    schema, _, _ = SCHEMAS[("config.projectsveltos.io/v1beta1", "Profile")]
    profile = {"spec": {"helmCharts": [{"chartName": "x"}], "syncMode": "Sometimes"}}
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(profile))) >= 2


def test_the_cel_rules_refuse_what_the_crd_refuses() -> None:
    schema, _, _ = SCHEMAS[("config.projectsveltos.io/v1beta1", "Profile")]
    chart = {"repositoryURL": "https://charts.example.com", "releaseName": "r"}
    policy = {"kind": "ConfigMap", "name": "m", "remoteURL": {"url": "https://x"}}
    profile = {"spec": {"helmCharts": [chart], "policyRefs": [policy]}}
    assert len(cel_errors(schema, profile)) == 4  # chartName, chartVersion, repositoryName; xor
    schema, _, _ = SCHEMAS[("kubernetes.m.crossplane.io/v1alpha1", "Object")]
    assert cel_errors(schema, {"spec": {"readiness": {"policy": "DeriveFromCelQuery"}}})


def test_the_cloud_crds_refuse_what_the_providers_refuse() -> None:
    """An EKS NodeGroup without scaling (a CEL rule, after defaulting managementPolicies) and a
    Cluster without its region (OpenAPI) are refused."""
    schema, _, _ = SCHEMAS[("eks.aws.m.upbound.io/v1beta1", "NodeGroup")]
    group = {"spec": {"forProvider": {"region": "us-east-1"}}}
    assert cel_errors(schema, defaulted(schema, group))
    schema, _, _ = SCHEMAS[("eks.aws.m.upbound.io/v1beta1", "Cluster")]
    cluster = {"spec": {"forProvider": {"vpcConfig": {}}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(cluster))


def test_cluster_apis_crd_refuses_a_topology_without_its_class() -> None:
    schema, _, _ = SCHEMAS[("cluster.x-k8s.io/v1beta2", "Cluster")]
    cluster = {"spec": {"topology": {"version": "v1.33.0", "workers": {}}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(cluster))
