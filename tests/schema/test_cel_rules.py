"""Every rule a parser checks across fields is a CEL rule of the schema, and the two agree.

A spec class with a model validator declares the same rule in CEL beside it (`Spec.CEL`); the
generated CRDs and XRDs carry it as ``x-kubernetes-validations``. `EXAMPLES` holds, per class,
objects the parser accepts and objects it refuses for one cross-field reason only. Each is run
through the parser, the class's structural schema (``jsonschema``) and its CEL rules
(``cel-python``, after the schema's defaults are filled in, as the API server does): the CEL
rules refuse exactly what the parser refuses, and the structural schema refuses none of it. A
class that gains a model validator without CEL rules and examples, and a CEL rule no example
breaks, fail here.
"""

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from pydantic.config import JsonDict

import function.model
from function.errors import SpecError
from function.model import bundle, deployment, edge, events, training, xr
from function.model.common import Spec, parse
from function.model.schema import generated_files, openapi_schema
from tests.schema.cel import (
    _ADDON,
    _CAPI,
    _CLUSTER,
    _EKS,
    _EVENT,
    _FILE_HELM,
    _HELM,
    _MODEL,
    _REF,
    _SELECTOR,
    _TRIGGER,
    CEL,
    _with,
    broken_rules,
    defaulted,
    structural_errors,
)

MODULES = [
    importlib.import_module(f"function.model.{m.name}")
    for m in pkgutil.iter_modules(function.model.__path__)
]

Example = tuple[str, dict[str, Any], bool]
"""(name, object at the class's level, whether the parser accepts it)"""


def _parameters(cls: type[Spec], base: dict[str, Any], low: str, high: str) -> list[Example]:
    """Parameter counts on both sides of the range from ``low`` to ``high`` a model class allows."""
    inside = [low, "1.000M", "01M", "999M", "0.001B", "8B", high, f"0{high}"]
    outside = ["0M", "0.5M", "0.999M", "0B", "0.000B", "10001B", "99999B", "9999999B"]
    if cls is edge.EdgeModelSpec:
        inside += ["13999.999M", "13.999B", "14.000B"]
        outside += ["14001M", "14.001B", "15B", "70B", "1000B"]
    else:
        inside += ["9999999.999M", "9999.999B", "10000.000B"]
        outside += ["10000.001B"]
    return [(f"parameters-{v}", {**base, "parameters": v}, True) for v in inside] + [
        (f"parameters-{v}", {**base, "parameters": v}, False) for v in outside
    ]


EXAMPLES: dict[type[Spec], list[Example]] = {
    xr.ModelSpec: _parameters(xr.ModelSpec, _MODEL, "1M", "10000B"),
    edge.EdgeModelSpec: _parameters(
        edge.EdgeModelSpec, {**_MODEL, "source": "ollama://qwen2.5:0.5b"}, "1M", "14B"
    ),
    training.TrainingModelSpec: _parameters(
        training.TrainingModelSpec, {"name": "m", "parameters": "8B"}, "1M", "10000B"
    ),
    xr.GpuSpec: [
        ("defaults", {"product": "L4"}, True),
        ("nodes-in-order", {"product": "L4", "minNodes": 2, "maxNodes": 2}, True),
        ("max-below-min", {"product": "L4", "minNodes": 3, "maxNodes": 2}, False),
        ("max-below-default-min", {"product": "L4", "minNodes": 5}, False),
        ("time-slicing", {"product": "L4", "sharing": "time-slicing", "replicasPerGpu": 4}, True),
        ("replicas-without-time-slicing", {"product": "L4", "replicasPerGpu": 4}, False),
        ("mig", {"product": "A100-80GB", "sharing": "mig", "migProfile": "1g.10gb"}, True),
        ("mig-without-profile", {"product": "A100-80GB", "sharing": "mig"}, False),
        ("profile-without-mig", {"product": "A100-80GB", "migProfile": "1g.10gb"}, False),
    ],
    xr.ClusterSpec: [
        ("capi", _CLUSTER, True),
        ("capi-without-settings", _with(_CLUSTER, capi=None), False),
        ("eks", _with(_CLUSTER, provider="eks", capi=None, eks=_EKS), True),
        ("eks-without-settings", _with(_CLUSTER, provider="eks", capi=None), False),
        ("eks-with-capi-settings", _with(_CLUSTER, provider="eks", eks=_EKS), False),
        ("gke-without-settings", _with(_CLUSTER, provider="gke", capi=None), False),
        ("gke", _with(_CLUSTER, provider="gke", capi=None, gke={"zone": "europe-west4-a"}), True),
        ("aks-without-settings", _with(_CLUSTER, provider="aks", capi=None), False),
        ("aks", _with(_CLUSTER, provider="aks", capi=None, aks={"resourceGroup": "rg"}), True),
    ],
    xr.AIInferenceClusterSpec: [
        ("no-models", _CLUSTER, True),
        ("two-models", _with(_CLUSTER, models=[_MODEL, {**_MODEL, "name": "n"}]), True),
        ("repeated-model", _with(_CLUSTER, models=[_MODEL, {**_MODEL, "replicas": 2}]), False),
        ("capi-without-settings", _with(_CLUSTER, capi=None, models=[_MODEL]), False),
    ],
    edge.EdgeAIClusterSpec: [
        ("cpu-only", _with(_CLUSTER, gpu=None), True),
        (
            "ollama-without-gpu",
            _with(_CLUSTER, gpu=None, model={**_MODEL, "source": "ollama://qwen2.5:0.5b"}),
            True,
        ),
        ("hf-with-gpu", _with(_CLUSTER, model=_MODEL), True),
        ("hf-without-gpu", _with(_CLUSTER, gpu=None, model=_MODEL), False),
        ("capi-without-settings", _with(_CLUSTER, capi=None), False),
        ("eks-without-settings", _with(_CLUSTER, provider="eks", capi=None), False),
        ("eks-with-capi-settings", _with(_CLUSTER, provider="eks", eks=_EKS), False),
    ],
    training.TrainingGpuSpec: [
        ("whole-gpus", {"product": "H100", "count": 16}, True),
        ("explicit-none", {"product": "H100", "count": 16, "sharing": "none"}, True),
        (
            "time-slicing",
            {"product": "H100", "count": 16, "sharing": "time-slicing", "replicasPerGpu": 2},
            False,
        ),
        (
            "mig",
            {"product": "H100", "count": 16, "sharing": "mig", "migProfile": "1g.10gb"},
            False,
        ),
        ("max-below-min", {"product": "H100", "count": 16, "minNodes": 5, "maxNodes": 4}, False),
    ],
    deployment.AIModelDeploymentSpec: [
        ("wait", {"model": _MODEL}, True),
        (
            "provision",
            {"model": _MODEL, "onNoCapacity": "Provision", "provision": {"capi": _CAPI}},
            True,
        ),
        ("provision-without-cluster", {"model": _MODEL, "onNoCapacity": "Provision"}, False),
        ("provision-without-wait", {"model": _MODEL, "provision": {"capi": _CAPI}}, True),
    ],
    bundle.HelmSource: [
        ("https", _HELM, True),
        ("https-private", {**_HELM, "credentialsSecretRef": {"name": "s"}}, True),
        ("https-unverified", {**_HELM, "insecureSkipTLSVerify": True}, True),
        ("file", _FILE_HELM, True),
        ("file-verified", {**_FILE_HELM, "insecureSkipTLSVerify": False}, True),
        ("file-with-credentials", {**_FILE_HELM, "credentialsSecretRef": {"name": "s"}}, False),
        ("file-unverified", {**_FILE_HELM, "insecureSkipTLSVerify": True}, False),
    ],
    bundle.AddonSpec: [
        ("manifests", _ADDON, True),
        ("empty-manifests", {"name": "a", "manifests": ""}, True),
        (
            "helm",
            {
                "name": "a",
                "helm": {"repository": "https://c.example", "chart": "c", "version": "1"},
            },
            True,
        ),
        (
            "manifests-from",
            {"name": "a", "manifestsFrom": [{"kind": "ConfigMap", "name": "m"}]},
            True,
        ),
        ("no-content", {"name": "a"}, False),
        ("empty-manifests-from", {"name": "a", "manifestsFrom": []}, False),
        ("depends-on-another", {**_ADDON, "dependsOn": ["b"]}, True),
        ("depends-on-itself", {**_ADDON, "dependsOn": ["b", "a"]}, False),
    ],
    bundle.AddonBundleSpec: [
        ("cluster-ref", {"clusterRef": _REF}, True),
        ("cluster-selector", {"clusterSelector": _SELECTOR}, True),
        ("empty-selector", {"clusterSelector": {}}, True),
        ("no-target", {}, False),
        ("both-targets", {"clusterRef": _REF, "clusterSelector": _SELECTOR}, False),
        ("kubeconfig-with-ref", {"clusterRef": _REF, "kubeconfigSecretRef": {"name": "k"}}, True),
        (
            "kubeconfig-with-selector",
            {"clusterSelector": _SELECTOR, "kubeconfigSecretRef": {"name": "k"}},
            False,
        ),
        ("max-update-count", {"clusterSelector": _SELECTOR, "maxUpdate": 2}, True),
        ("max-update-percent", {"clusterSelector": _SELECTOR, "maxUpdate": "20%"}, True),
        ("max-update-all", {"clusterSelector": _SELECTOR, "maxUpdate": "100%"}, True),
        ("max-update-zero", {"clusterSelector": _SELECTOR, "maxUpdate": 0}, False),
        ("max-update-zero-percent", {"clusterSelector": _SELECTOR, "maxUpdate": "0%"}, False),
        ("max-update-over-all", {"clusterSelector": _SELECTOR, "maxUpdate": "101%"}, False),
        ("max-update-text", {"clusterSelector": _SELECTOR, "maxUpdate": "two"}, False),
        ("addon-without-content", {"clusterRef": _REF, "addons": [{"name": "a"}]}, False),
        (
            "dependencies",
            {"clusterRef": _REF, "addons": [_ADDON, {**_ADDON, "name": "b", "dependsOn": ["a"]}]},
            True,
        ),
        ("repeated-addon", {"clusterRef": _REF, "addons": [_ADDON, _ADDON]}, False),
        (
            "unknown-dependency",
            {"clusterRef": _REF, "addons": [_ADDON, {**_ADDON, "name": "b", "dependsOn": ["c"]}]},
            False,
        ),
    ],
    events.EventTriggerSpec: [
        ("no-notifications", _TRIGGER, True),
        (
            "two-notifications",
            {**_TRIGGER, "notifications": [_EVENT, {**_EVENT, "name": "m"}]},
            True,
        ),
        ("repeated-notification", {**_TRIGGER, "notifications": [_EVENT, _EVENT]}, False),
        (
            "addon-depends-on-itself",
            {**_TRIGGER, "addons": [{**_ADDON, "dependsOn": ["a"]}]},
            False,
        ),
        ("repeated-addon", {**_TRIGGER, "addons": [_ADDON, _ADDON]}, False),
        ("unknown-dependency", {**_TRIGGER, "addons": [{**_ADDON, "dependsOn": ["b"]}]}, False),
    ],
}


def spec_classes() -> Iterator[type[Spec]]:
    """Every spec class the model modules define."""
    for module in MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Spec) and cls.__module__ == module.__name__:
                yield cls


def own_model_validators(cls: type[Spec]) -> set[str]:
    """Names of the model validators ``cls`` defines itself (not inherits)."""
    inherited = {
        name: info.func
        for base in cls.__mro__[1:]
        if issubclass(base, Spec)
        for name, info in base.__pydantic_decorators__.model_validators.items()
    }
    return {
        name
        for name, info in cls.__pydantic_decorators__.model_validators.items()
        if inherited.get(name) is not info.func
    }


PARSERS: dict[type[Spec], Callable[[Any], Spec]] = {
    bundle.AddonBundleSpec: bundle.parse_bundle_spec,
    events.EventTriggerSpec: events.parse_event_trigger_spec,
}
"""The classes whose parse function checks more than the class (add-on names, dependencies)."""


def parser_accepts(cls: type[Spec], value: dict[str, Any]) -> bool:
    try:
        PARSERS.get(cls, lambda data: parse(cls, data))(value)
    except SpecError:
        return False
    return True


CASES = [
    pytest.param(cls, value, valid, id=f"{cls.__name__}-{name}")
    for cls, examples in EXAMPLES.items()
    for name, value, valid in examples
]


def test_every_cross_field_validator_has_cel_rules_and_examples() -> None:
    validated = [cls for cls in spec_classes() if own_model_validators(cls)]
    assert validated, "no model validators found"
    for cls in validated:
        assert vars(cls).get("CEL"), f"{cls.__name__} has a model validator and no CEL rules"
        assert cls in EXAMPLES, f"{cls.__name__} has no examples here"
    for cls in spec_classes():
        if vars(cls).get("CEL"):
            assert cls in EXAMPLES, f"{cls.__name__} has CEL rules and no examples here"


@pytest.mark.parametrize(("cls", "value", "valid"), CASES)
def test_cel_rules_refuse_what_the_parser_refuses(
    cls: type[Spec], value: dict[str, Any], valid: bool
) -> None:
    assert parser_accepts(cls, value) is valid
    schema = openapi_schema(cls)
    assert structural_errors(schema, value) == []  # the CEL rules alone decide
    broken = broken_rules(schema, defaulted(schema, value))
    assert (broken == []) is valid, broken


def test_every_rule_is_broken_by_an_example_and_kept_by_the_valid_ones() -> None:
    for cls, examples in EXAMPLES.items():
        schema = openapi_schema(cls)
        broken = {
            rule
            for _, value, valid in examples
            if not valid
            for _, rule in broken_rules(schema, defaulted(schema, value))
        }
        for rule in cls.CEL:
            assert rule["rule"] in broken, f"{cls.__name__}: no example breaks {rule['rule']}"


def test_emitted_rules_are_each_broken_by_an_example() -> None:
    broken = {
        rule
        for cls, examples in EXAMPLES.items()
        for _, value, valid in examples
        if not valid
        for _, rule in broken_rules(openapi_schema(cls), defaulted(openapi_schema(cls), value))
    }
    emitted = {rule["rule"] for _, _, rule in generated_rules()}
    assert emitted, "the generated files carry no CEL rules"
    assert emitted - broken == set()


def test_subclasses_keep_their_bases_rules() -> None:
    for cls in spec_classes():
        rules = openapi_schema(cls).get("x-kubernetes-validations", [])
        for base in cls.__mro__[1:]:
            if isinstance(base, type) and issubclass(base, Spec):
                missing = [r for r in base.cel_rules() if r not in rules]
                assert not missing, f"{cls.__name__} drops {base.__name__}'s {missing}"


def generated_rules() -> Iterator[tuple[str, dict[str, Any], JsonDict]]:
    """(file, schema node, rule) of every CEL rule in the generated files."""

    def walk(node: Any) -> Iterator[tuple[dict[str, Any], JsonDict]]:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations", []):
                yield node, rule
            for key, child in node.items():
                if key != "x-kubernetes-validations":
                    yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)

    for relative, text in generated_files().items():
        for node, rule in walk(yaml.safe_load(text)):
            yield relative, node, rule


def test_every_declared_rule_is_in_the_generated_files() -> None:
    emitted = {rule["rule"] for _, _, rule in generated_rules()}
    for cls in EXAMPLES:
        for rule in cls.CEL:
            assert rule["rule"] in emitted, f"{cls.__name__}: {rule['rule']}"


def test_generated_rules_compile_and_their_field_paths_exist() -> None:
    for relative, node, rule in generated_rules():
        CEL.compile(str(rule["rule"]))
        assert rule.get("message"), f"{relative}: {rule['rule']} has no message"
        path = rule.get("fieldPath")
        if path is not None:
            assert isinstance(path, str) and path.startswith(".")
            assert path[1:] in node.get("properties", {}), f"{relative}: {path}"
