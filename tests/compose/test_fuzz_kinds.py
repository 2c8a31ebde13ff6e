"""Generated training and edge specs, plausible and hostile: each is refused with field paths
under ``spec`` or composes into something that makes sense, never an exception."""

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.compose import CompositeResource, compose
from function.errors import SpecError
from function.model.bundle import parse_bundle_spec
from function.model.input import parse_input
from tests.specs import bad_counts, hostile, judge_spec_error

TRAINING: dict[str, Any] = {
    "region": "eu-west-1",
    "capi": {"infrastructure": "aws"},
    "gpu": {"product": "H100", "count": 16, "maxNodes": 4},
    "model": {"name": "m", "parameters": "8B", "precision": "bf16", "optimizer": "adamw"},
}
EDGE: dict[str, Any] = {
    "region": "store-1",
    "capi": {"infrastructure": "metal3"},
    "gpu": {"product": "L4"},
    "edge": {"controlPlane": "k0s", "broker": "nats", "hub": "tls://hub:7422"},
    "model": {"name": "m", "parameters": "1B", "source": "hf://org/m"},
}
FIELDS = {
    "AITrainingCluster": (
        TRAINING,
        [
            ("gpu", "count"),
            ("gpu", "product"),
            ("gpu", "maxNodes"),
            ("gpu", "sharing"),
            ("model", "parameters"),
            ("model", "precision"),
            ("model", "optimizer"),
            ("model",),
            ("gpu",),
        ],
    ),
    "EdgeAICluster": (
        EDGE,
        [
            ("gpu",),
            ("gpu", "product"),
            ("gpu", "sharing"),
            ("edge", "controlPlane"),
            ("edge", "broker"),
            ("edge", "hub"),
            ("model", "parameters"),
            ("model", "source"),
            ("model", "contextLength"),
            ("capi", "cpuWorkers"),
            ("model",),
        ],
    ),
}


@st.composite
def kind_specs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(FIELDS)))
    base, fields = FIELDS[kind]
    spec = copy.deepcopy(base)
    for path in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True)):
        node = spec
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            value = draw(
                st.one_of(hostile(40), bad_counts(0, 4096), st.just(None), st.just("none"))
            )
            if value is None:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return kind, spec


def judge(kind: str, spec: dict[str, Any]) -> str:
    xr = CompositeResource("aifleet.io/v1alpha1", kind, "fuzz", "team", {}, spec)
    try:
        composition = compose(xr, {}, parse_input({}))
    except SpecError as err:
        judge_spec_error(err)
        return "refused"
    status = composition.status
    if kind == "AITrainingCluster":
        training, gpu = status["training"], status["gpu"]
        assert training["minGpus"] <= training["gpus"] <= gpu["total"]
        assert training["perGpuGiB"] <= gpu["memoryGiB"]
    else:
        assert (status.get("gpu") is not None) == status["edge"]["gpus"]
    parse_bundle_spec(composition.resources["addon-bundle"].body["spec"])
    return "composed"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind_specs())
def test_every_training_and_edge_spec_is_refused_with_paths_or_composed(
    case: tuple[str, dict[str, Any]],
) -> None:
    assert judge(*case) in ("refused", "composed")


def test_the_judge_composes_the_bases_and_refuses_nonsense() -> None:
    assert judge("AITrainingCluster", TRAINING) == "composed"
    assert judge("EdgeAICluster", EDGE) == "composed"
    assert judge("AITrainingCluster", {**TRAINING, "gpu": {"product": "H100", "count": 0}}) == (
        "refused"
    )
