"""The XRDs and CRDs, the parsers and the catalog agree, and the committed files are current."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from function.catalog.addons import SERVING
from function.catalog.gpus import GPUS
from function.compose.kinds import KINDS, kind_of
from function.compose.sizing import BYTES_PER_PARAMETER
from function.errors import SpecError
from function.model import xr
from function.model.input import FunctionInput, parse_input
from function.model.schema import generated_files
from function.model.xr import CROSSPLANE_SPEC_FIELDS, parse_xr_spec

ROOT = Path(__file__).parents[2]


def load(relative: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / relative).read_text())
    return doc


def crd_schema(relative: str) -> dict[str, Any]:
    schema: dict[str, Any] = load(relative)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


XRD = crd_schema("xrds/aiinferencecluster.yaml")
SPEC = XRD["properties"]["spec"]["properties"]


def schema_errors(schema: dict[str, Any], doc: Any) -> list[str]:
    """Paths of what an OpenAPI v3 schema refuses in ``doc``, in our ``a.b[0].c`` form."""
    validator = jsonschema.Draft7Validator(schema)
    return sorted(_path(e.absolute_path) for e in validator.iter_errors(doc))


def _path(parts: Iterator[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def examples() -> list[Path]:
    return sorted((ROOT / "examples" / "xrs").glob("*.yaml"))


@pytest.mark.parametrize("relative", sorted(generated_files()))
def test_committed_schemas_are_generated_from_the_models(relative: str) -> None:
    assert (ROOT / relative).read_text() == generated_files()[relative], (
        "run `python -m function.model.schema --write`"
    )


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.name)
def test_every_example_validates_against_the_xrd_and_parses(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    kind = doc["kind"]
    xrd = crd_schema(
        f"xrds/legacy/{kind.lower()}.yaml" if kind.startswith("X") else f"xrds/{kind.lower()}.yaml"
    )
    ours = {k: v for k, v in doc["spec"].items() if k not in CROSSPLANE_SPEC_FIELDS}
    assert schema_errors(xrd, {**doc, "spec": ours}) == []
    kind_of(kind).workload(doc["metadata"]["name"], "ns", doc["spec"], FunctionInput())


def test_every_composed_kind_has_xrds_compositions_and_an_example() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in examples()}
    for kind in KINDS:
        plain = kind.removeprefix("X") if kind.startswith(("XA", "XE")) else kind
        assert plain in kinds, f"no example of {plain}"
        assert load(f"xrds/{plain.lower()}.yaml")["spec"]["names"]["kind"] == plain
    composed = {
        load(str(p.relative_to(ROOT)))["spec"]["compositeTypeRef"]["kind"]
        for p in (ROOT / "compositions").glob("*.yaml")
    }
    assert composed == set(KINDS)


def test_step_inputs_validate_against_the_input_crd() -> None:
    schema = crd_schema("package/input/aifleet.fn.crossplane.io_inputs.yaml")
    inputs = [load("examples/input-offline.yaml")] + [
        step["input"]
        for path in sorted((ROOT / "compositions").glob("*.yaml"))
        for step in load(str(path.relative_to(ROOT)))["spec"]["pipeline"]
    ]
    for step in inputs:
        assert schema_errors(schema, step) == []
        parse_input(step)


def test_composed_bundles_validate_against_the_addon_bundle_crd() -> None:
    schema = crd_schema("package/crds/addons.aifleet.io_addonbundles.yaml")
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        resources = yaml.safe_load(path.read_text())["response"].get("desired", {})
        bundle = resources.get("resources", {}).get("addon-bundle")
        if bundle:
            assert schema_errors(schema, bundle["resource"]) == [], path.name


def test_enums_are_the_catalogs_tables() -> None:
    products = [p.value for p in GPUS]
    short = {p.split("-", 1)[0] for p in products if "-" in p}
    assert SPEC["gpu"]["properties"]["product"]["enum"] == products + sorted(
        short, key=[p.split("-", 1)[0] for p in products].index
    )
    models = SPEC["models"]["items"]["properties"]
    assert models["runtime"]["enum"] == [r.value for r in SERVING]
    assert models["precision"]["enum"] == [p.value for p in BYTES_PER_PARAMETER]


def minimal(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "region": "eu-west-1",
        "capi": {"infrastructure": "aws"},
        "gpu": {"product": "L4"},
        "models": [{"name": "m", "parameters": "8B", "source": "hf://org/m"}],
    }
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return spec


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"gpu__product": "B300"}, "spec.gpu.product"),
        ({"gpu__minNodes": -1}, "spec.gpu.minNodes"),
        ({"gpu__perNode": 16}, "spec.gpu.perNode"),
        ({"gpu__migProfile": "9g.1tb"}, "spec.gpu.migProfile"),
        ({"region": "EU West"}, "spec.region"),
        ({"kubernetesVersion": "2.0"}, "spec.kubernetesVersion"),
        ({"environment": "qa"}, "spec.environment"),
        ({"capi__infrastructure": "vsphere"}, "spec.capi.infrastructure"),
        ({"capi__controlPlaneReplicas": 2}, "spec.capi.controlPlaneReplicas"),
        ({"models__0__parameters": "70"}, "spec.models[0].parameters"),
        ({"models__0__precision": "fp32"}, "spec.models[0].precision"),
        ({"models__0__replicas": 0}, "spec.models[0].replicas"),
        ({"models__0__contextLength": 0}, "spec.models[0].contextLength"),
        ({"models__0__contextLength": 200000}, "spec.models[0].contextLength"),
        ({"models__0__parameters": "\u0663B"}, "spec.models[0].parameters"),  # Arabic-Indic 3
        ({"models__0__replicas": "3"}, "spec.models[0].replicas"),
        ({"gpu__maxNodes": True}, "spec.gpu.maxNodes"),
        ({"models__0__source": "ftp://x"}, "spec.models[0].source"),
        ({"models__0__name": "Llama_3"}, "spec.models[0].name"),
        (
            {"addons": {"extra": [{"name": "x", "gate": "Sometime", "manifests": ""}]}},
            "spec.addons.extra[0].gate",
        ),
    ],
)
def test_schema_and_parser_refuse_the_same_field(overrides: dict[str, Any], path: str) -> None:
    spec = minimal(**overrides)
    with pytest.raises(SpecError) as err:
        parse_xr_spec(spec)
    assert [e.path for e in err.value.errors] == [path]
    assert schema_errors(XRD, {"spec": spec}) == [path]


def test_example_model_deployments_validate_against_their_crd_and_parse() -> None:
    from function.model.deployment import KIND, parse_deployment_spec

    schema = crd_schema("package/crds/aifleet.io_aimodeldeployments.yaml")
    docs = [
        yaml.safe_load(path.read_text())
        for path in sorted((ROOT / "examples" / "placement").glob("*.yaml"))
    ]
    deployments = [doc for doc in docs if doc.get("kind") == KIND]
    assert len(deployments) >= 2
    for doc in deployments:
        assert schema_errors(schema, doc) == []
        parse_deployment_spec(doc["spec"])


def test_the_promotion_policy_has_one_field_per_environment() -> None:
    from function.model.input import PromotionPolicy

    assert set(PromotionPolicy.model_fields) == {e.value for e in xr.Environment}
