"""Generated specs, plausible and hostile, through the parser and the whole composition: each
is refused with field paths or composes into something that makes sense, never an exception."""

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from function.compose import CompositeResource, compose
from function.errors import SpecError
from function.model.input import parse_input
from tests.specs import judge, xr_specs

BASE: dict[str, Any] = {
    "region": "eu-west-1",
    "capi": {"infrastructure": "aws"},
    "gpu": {"product": "L4"},
    "models": [{"name": "m", "parameters": "8B", "source": "hf://org/m"}],
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xr_specs())
def test_every_spec_is_refused_with_field_paths_or_composed_sensibly(spec: dict[str, Any]) -> None:
    assert judge(spec) in ("refused", "composed")


def test_the_judge_tells_nonsense_from_sense() -> None:
    # The property above would hold vacuously if everything were refused.
    assert judge(BASE) == "composed"
    assert judge({**BASE, "models": [{**BASE["models"][0], "parameters": "0B"}]}) == "refused"


def deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def fatal_paths(spec: dict[str, Any]) -> list[str]:
    xr = CompositeResource("aifleet.io/v1alpha1", "AIInferenceCluster", "x", "team", {}, spec)
    try:
        compose(xr, {}, parse_input({}))
    except SpecError as err:
        return [str(e) for e in err.errors]
    return []


def test_a_value_nested_thousands_deep_is_refused_at_its_path() -> None:
    [error] = fatal_paths({**BASE, "addons": {"values": {"monitoring": deep(3000)}}})
    assert error.startswith("spec.addons.values.monitoring.a.a.a")
    assert error.endswith("a value nested deeper; allowed: at most 24 levels of maps and lists")


def test_long_strings_and_wide_maps_are_refused_at_their_path() -> None:
    [error] = fatal_paths({**BASE, "labels": {"team": "x" * (1024 * 1024 + 1)}})
    assert error == (
        "spec.labels.team: a string of 1,048,577 characters; allowed: at most 1,048,576 characters"
    )
    [error] = fatal_paths({**BASE, "labels": {str(i): "x" for i in range(5000)}})
    assert error == "spec.labels: 5,000 items; allowed: at most 4,096 items"


def test_numbers_must_be_ascii_and_in_range() -> None:
    def model(**fields: Any) -> dict[str, Any]:
        return {**BASE, "models": [{**BASE["models"][0], **fields}]}

    assert fatal_paths(model(parameters="\u0663B")) == [
        "spec.models[0].parameters: unsupported value '\u0663B'; allowed: text matching "
        "^([0-9]{1,7}(?:\\.[0-9]{1,3})?)([MB])$"
    ]
    assert fatal_paths(model(parameters="0B")) == [
        "spec.models[0].parameters: unsupported value '0B'; allowed: from 1M to 10000B parameters"
    ]
    assert fatal_paths(model(parameters="0.5M")) == [
        "spec.models[0].parameters: unsupported value '0.5M'; allowed: from 1M to 10000B parameters"
    ]
    assert fatal_paths(model(contextLength=0)) == [
        "spec.models[0].contextLength: unsupported value 0; allowed: an integer from 1 to 131072"
    ]
    assert fatal_paths(model(contextLength="\u0663\u0660\u0660")) == [
        "spec.models[0].contextLength: unsupported value '\u0663\u0660\u0660'; allowed: an integer "
        "from 1 to 131072"
    ]
    assert fatal_paths(model(replicas=True)) == [
        "spec.models[0].replicas: unsupported value True; allowed: an integer from 1 to 64"
    ]
    assert fatal_paths(model(replicas="2")) == [
        "spec.models[0].replicas: unsupported value '2'; allowed: an integer from 1 to 64"
    ]
    assert fatal_paths({**BASE, "gpu": {"product": "L4", "maxNodes": 2.5}}) == [
        "spec.gpu.maxNodes: unsupported value 2.5; allowed: an integer from 1 to 1000"
    ]
    assert fatal_paths(model(parameters="1M", contextLength=1, replicas=2.0)) == []


def test_the_deepest_values_an_xr_may_carry_make_a_bundle_the_reconciler_accepts() -> None:
    values = deep(20)  # spec.addons.values.monitoring holds the 24th level
    assert judge({**BASE, "addons": {"values": {"monitoring": values}}}) == "composed"
    assert fatal_paths({**BASE, "addons": {"values": {"monitoring": {"a": values}}}})


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("kind", ["map", "list"])
def test_a_spec_nested_near_pythons_recursion_limit_is_refused_at_its_path(kind: str) -> None:
    # Around the recursion limit, json's encoder may manage a depth its decoder cannot: every
    # depth there is refused like any other value nested too deep.
    limit = sys.getrecursionlimit()
    for depth in range(limit - 80, limit + 10):
        value = deep(depth) if kind == "map" else deep_list(depth)
        [error] = fatal_paths({**BASE, "addons": {"values": {"monitoring": {"x": value}}}})
        assert error.startswith("spec.addons.values.monitoring.x"), depth
        assert error.endswith("allowed: at most 24 levels of maps and lists"), depth
