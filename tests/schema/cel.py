"""CEL rules run as the API server runs them, and the example objects the CEL tests build on.

`broken_rules` evaluates every ``x-kubernetes-validations`` rule of a schema and its
descendants on a value with the schema's defaults filled in (`defaulted`), as the API server
does on create and update; `structural_errors` checks the structural schema. Shared by the
tests of the declared rules (`test_cel_rules`) and of the committed files
(`test_cel_committed`).
"""

from typing import Any

import celpy
import jsonschema

CEL = celpy.Environment()

_CAPI = {"infrastructure": "aws"}
_EKS = {
    "roleArn": "arn:aws:iam::123456789012:role/c",
    "nodeRoleArn": "arn:aws:iam::123456789012:role/n",
    "subnetIds": ["subnet-0a1b2c3d", "subnet-0b1c2d3e"],
}
_CLUSTER = {"region": "eu-west-1", "capi": _CAPI, "gpu": {"product": "L4"}}
_MODEL = {"name": "m", "parameters": "8B", "source": "hf://org/m"}
_ADDON = {"name": "a", "manifests": "kind: ConfigMap"}
_HELM = {"repository": "https://charts.example.com", "chart": "c", "version": "1.0.0"}
_FILE_HELM = {**_HELM, "repository": "file:///charts"}
_SELECTOR = {"matchLabels": {"gpu": "true"}}
_REF = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": "c"}
_TRIGGER = {"sourceClusterSelector": {}, "eventSourceName": "gpu-hot", "addons": [_ADDON]}
_EVENT = {"name": "n", "type": "KubernetesEvent"}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with top-level fields replaced; a value of None removes the field."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


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


def broken_rules(schema: dict[str, Any], value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, rule) of every CEL rule of ``schema`` and its descendants ``value`` breaks."""
    out = []
    for rule in schema.get("x-kubernetes-validations", []):
        program = CEL.program(CEL.compile(rule["rule"]))
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
            holds = not isinstance(result, Exception) and bool(result)
        except celpy.CELEvalError:  # the API server refuses what it cannot evaluate, too
            holds = False
        if not holds:
            out.append((path or ".", rule["rule"]))
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key in value:
                out += broken_rules(child, value[key], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += broken_rules(schema["items"], item, f"{path}[{i}]")
    return out


def structural_errors(schema: dict[str, Any], value: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
