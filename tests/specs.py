"""Hypothesis strategies for AIInferenceCluster specs as a careless or hostile user writes them,
and the judge of what composing one may lead to.

`xr_specs` mixes plausible values with hostile ones in every field: numbers as strings,
non-ASCII digits, booleans for counts, zero and absurd sizes, values nested far deeper than
any Helm chart, long strings and wide maps. `judge` composes a spec and checks the outcome:
a `SpecError` whose every entry names a field under ``spec``, or a composition that makes
sense (GPUs for the models, at least a million parameters each, every replica fitting its
devices, a bundle the reconciler accepts). The tests in ``tests/compose`` and ``tests/fn``
and ``benchmarks/fuzz.py`` share them.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from function.compose import CompositeResource, Composition, compose
from function.errors import SpecError
from function.model.bundle import parse_bundle_spec
from function.model.input import parse_input

LONG = "x" * (1024 * 1024 + 1)
"""A string one character over the parser's limit, built once."""

NUMBERS_AS_TEXT = ["٣", "\uff13", "७०", "3", "1e3", "0x10", " 4", "4\n", "NaN", "∞", ""]
PARAMETERS = ["350M", "0.5B", "1.2B", "8B", "14B", "32B", "70B", "405B", "1M", "10000B"]
HOSTILE_PARAMETERS = [
    "٣B", "\uff17\uff10B", "0B", "0M", "0.5M", "0.0001B", "70B\n", " 70B", "70b", "70 B", "-1B",
    "1e9B", "99999999B", "9999999.999B", "70.B", ".5B", "NaNB", "infB", "70", "B", "",
]  # fmt: skip
NAMES = ["m", "llama-3-70b", "qwen", "Llama_3", "-x", "a" * 41, "ünïcode", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([*NUMBERS_AS_TEXT, LONG]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def nested(draw: st.DrawFn, max_depth: int) -> Any:
    """A value wrapped in maps or lists up to ``max_depth`` times."""
    value: Any = draw(scalars)
    depth = draw(st.integers(min_value=1, max_value=max_depth))
    as_map = draw(st.booleans())
    for _ in range(depth):
        value = {"a": value} if as_map else [value]
    return value


def hostile(max_depth: int) -> st.SearchStrategy[Any]:
    """Anything a field might hold instead of what it should."""
    return st.one_of(json_values, nested(max_depth), st.sampled_from([*NUMBERS_AS_TEXT, LONG]))


def bad_counts(low: int, high: int) -> st.SearchStrategy[Any]:
    """Counts just outside their range, and in forms that are not integers."""
    return st.one_of(
        st.integers(min_value=low - 3, max_value=low - 1),
        st.integers(min_value=high + 1, max_value=high + 3),
        st.sampled_from([True, False, float(low), low + 0.5, str(low), "٣", -(2**64), 2**64]),
    )


_MISSING = object()


class _Fields:
    """Draws the fields of one spec: each valid, or — at the spec's rate — hostile or absent."""

    def __init__(self, draw: st.DrawFn, depth: int) -> None:
        self.draw = draw
        self.depth = depth
        self.rate = draw(st.sampled_from([0, 2, 5, 10, 25, 60]))

    def __call__(
        self, valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] | None = None
    ) -> Any:
        # Hypothesis favours small numbers: a small roll is a valid value.
        roll = 99 - self.draw(st.integers(min_value=0, max_value=99))
        if roll < self.rate:
            return self.draw(bad if bad is not None and roll % 2 else hostile(self.depth))
        if roll < self.rate * 1.3:
            return _MISSING
        return self.draw(valid)

    def count(self, low: int, high: int) -> Any:
        return self(st.integers(min_value=low, max_value=min(high, low + 8)), bad_counts(low, high))

    def mapping(self, **fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not _MISSING}


def _model(f: _Fields, index: int) -> dict[str, Any]:
    return f.mapping(
        name=f(st.just(f"m{index}"), st.sampled_from(NAMES)),
        parameters=f(st.sampled_from(PARAMETERS), st.sampled_from(HOSTILE_PARAMETERS)),
        precision=f(st.sampled_from(["fp16", "fp8", "int4"]), st.just("fp32")),
        contextLength=f(
            st.sampled_from([1, 256, 4096, 8192, 32768, 131072]), bad_counts(1, 131072)
        ),
        concurrency=f.count(1, 1024),
        runtime=f(st.just("vllm"), st.sampled_from(["kserve", "triton", "tgi"])),
        replicas=f.count(1, 64),
        source=f(st.just(f"hf://org/m{index}"), st.sampled_from(["s3://b/m", "ftp://x"])),
    )


def _spec(draw: st.DrawFn, max_depth: int) -> dict[str, Any]:
    f = _Fields(draw, max_depth)
    sharing = draw(st.sampled_from(["none", "none", "time-slicing", "mig"]))
    gpu = f.mapping(
        product=f(
            st.sampled_from(["T4", "L4", "A100-80GB", "H100-80GB", "H200-141GB"]),
            st.just("B300"),
        ),
        sharing=f(st.just(sharing)),
        perNode=f(st.just(_MISSING) | st.integers(min_value=1, max_value=8), bad_counts(1, 8)),
        replicasPerGpu=f(
            st.just(2) if sharing == "time-slicing" else st.just(_MISSING), bad_counts(2, 16)
        ),
        migProfile=f(
            st.sampled_from(["1g.10gb", "3g.40gb"]) if sharing == "mig" else st.just(_MISSING),
            st.just("9g.1tb"),
        ),
        minNodes=f.count(0, 1000),
        maxNodes=f(st.integers(min_value=4, max_value=1000), bad_counts(1, 1000)),
    )
    extra = f.mapping(
        name=f(st.just("dash"), st.sampled_from(NAMES)),
        manifests=f(st.just("kind: ConfigMap\n")),
        dependsOn=f(st.just(["monitoring"]), st.just(["nope"])),
        helm=f(st.just(_MISSING)),
    )
    addons = f.mapping(
        disable=f(st.just([]), st.just(["nope"])),
        values=f(
            st.dictionaries(
                st.sampled_from(["monitoring", "nfd"]),
                st.dictionaries(st.text(max_size=6), json_values, max_size=3),
                max_size=2,
            )
        ),
        extra=f(st.just([extra]) | st.just([])),
    )
    model_count = draw(st.integers(min_value=0, max_value=3))
    spec = f.mapping(
        provider=f(st.just("capi")),
        capi=f(
            st.just(
                f.mapping(
                    infrastructure=f(st.sampled_from(["aws", "openstack"]), st.just("vsphere")),
                    cpuWorkers=f.count(0, 100),
                    controlPlaneReplicas=f(st.sampled_from([_MISSING, 1, 3, 5]), bad_counts(1, 5)),
                )
            )
        ),
        region=f(st.sampled_from(["eu-west-1", "lab"]), st.sampled_from(["EU West", LONG])),
        environment=f(st.sampled_from(["dev", "prod"]), st.just("qa")),
        gpu=f(st.just(gpu)),
        models=f(st.just([_model(f, i) for i in range(model_count)])),
        addons=f(st.just(addons)),
        labels=f(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
    )
    return spec


def xr_specs(max_depth: int = 3000) -> st.SearchStrategy[dict[str, Any]]:
    """Whole AIInferenceCluster specs: each field plausible, hostile or absent, at a rate of
    hostility drawn per spec (from none to most fields)."""
    return st.composite(_spec)(max_depth)


ASCII_PARAMETERS = re.compile(r"([0-9]+(?:\.[0-9]+)?)([MB])")


def judge_spec_error(err: SpecError) -> None:
    """A refusal is fit for a FATAL result: every entry names a field under ``spec``."""
    assert err.errors
    for entry in err.errors:
        assert entry.path == "spec" or entry.path.startswith(("spec.", "spec[")), entry
        assert entry.message, entry


def judge_composition(spec: dict[str, Any], composition: Composition) -> None:
    """A composition makes sense: each model has a million parameters or more, written in
    ASCII digits; it gets GPUs, and each replica fits the memory of the GPUs it spans."""
    status = composition.status
    gpu = status["gpu"]
    assert gpu["nodes"] >= 0 and gpu["perNode"] >= 1 and gpu["memoryGiB"] > 0
    for model, sized in zip(spec.get("models") or [], status.get("models", []), strict=True):
        match = ASCII_PARAMETERS.fullmatch(model["parameters"])
        assert match is not None, model["parameters"]
        scale = 1e9 if match.group(2) == "B" else 1e6
        assert float(match.group(1)) * scale >= 1e6, model["parameters"]
        assert sized["gpusPerReplica"] >= 1 and sized["replicas"] >= 1
        assert 0 <= sized["memoryGiB"] <= sized["gpusPerReplica"] * gpu["memoryGiB"], sized
    if spec.get("models"):
        assert gpu["total"] >= 1 and gpu["nodes"] >= 1
    assert set(composition.resources) == {"cluster", "addon-bundle"}
    # The reconciler accepts the bundle it will be given.
    parse_bundle_spec(composition.resources["addon-bundle"].body["spec"])


def judge(spec: dict[str, Any]) -> str:
    """Compose ``spec``: ``"refused"`` or ``"composed"``; an `AssertionError` if the outcome
    makes no sense; any other exception is a crash."""
    xr = CompositeResource("aifleet.io/v1alpha1", "AIInferenceCluster", "fuzz", "team", {}, spec)
    try:
        composition = compose(xr, {}, parse_input({}))
    except SpecError as err:
        judge_spec_error(err)
        return "refused"
    judge_composition(spec, composition)
    return "composed"
