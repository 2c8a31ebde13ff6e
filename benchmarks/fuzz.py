"""Fuzzing the composition: thousands of generated specs, plausible and hostile, and what came back.

The `hypothesis` strategies of ``tests/specs.py`` (the ones the test suite runs a few hundred
cases of) generate ``--cases`` XR specs for the pure composition path and a tenth as many for
RunFunction in process (decode, compose, encode). Each case is judged as in the tests: refused
with field paths, or composed into something that makes sense. Anything else is counted: a
**crash** is an exception other than a refusal, **nonsense** a composition or a refusal the
judge rejects. Nothing is shrunk, so the count is of generated cases.

Times per case are printed as p50 and p99 beside a **baseline** measured in the same run: the
composition of a valid spec under a new name each time (so nothing is memoised), the cost of
an ordinary XR.

    python benchmarks/fuzz.py [--cases 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from function.compose import CompositeResource, compose  # noqa: E402
from function.fn.runner import FunctionRunner  # noqa: E402
from function.model.input import parse_input  # noqa: E402
from tests.fn.test_fuzz_grpc import PROTOBUF_SAFE_DEPTH, judge_response, request_for  # noqa: E402
from tests.specs import judge, xr_specs  # noqa: E402

VALID = {
    "region": "eu-west-1",
    "capi": {"infrastructure": "aws"},
    "gpu": {"product": "H100-80GB", "maxNodes": 4},
    "models": [{"name": "m", "parameters": "70B", "source": "hf://org/m", "replicas": 2}],
}


class Campaign:
    """Outcomes and times of one path's cases."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outcomes: Counter[str] = Counter()
        self.times: list[float] = []
        self.first: dict[str, str] = {}

    def run(self, case: Callable[[], str]) -> None:
        start = time.perf_counter()
        try:
            outcome = case()
        except AssertionError as err:
            outcome = "nonsense"
            self.first.setdefault(outcome, str(err)[:200])
        except Exception as err:
            outcome = "crash"
            self.first.setdefault(f"crash {type(err).__name__}", str(err)[:200])
        self.times.append(time.perf_counter() - start)
        self.outcomes[outcome] += 1

    def report(self, baseline: list[float] | None) -> None:
        p50, p99 = percentiles(self.times)
        cases = sum(self.outcomes.values())
        line = (
            f"{self.name:<34} {cases:>6} cases  composed {self.outcomes['composed']:>5}  "
            f"refused {self.outcomes['refused']:>5}  crashes {self.outcomes['crash']}  "
            f"nonsense {self.outcomes['nonsense']}  "
            f"p50 {p50 * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms"
        )
        if baseline:
            base50, base99 = percentiles(baseline)
            line += f"  ({p50 / base50:.2f}x / {p99 / base99:.2f}x the baseline)"
        print(line)
        for kind, example in self.first.items():
            print(f"    first {kind}: {example}")


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``times``."""
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98]


def generate(cases: int, depth: int, body: Callable[[dict[str, Any]], None]) -> None:
    """Run ``body`` on ``cases`` generated specs, without shrinking or a database."""

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(xr_specs(max_depth=depth))
    def each(spec: dict[str, Any]) -> None:
        body(spec)

    each()


def main() -> None:
    """Run the campaigns and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    settings_ = parse_input({})

    def valid(name: str) -> str:
        xr = CompositeResource("aifleet.io/v1alpha1", "AIInferenceCluster", name, "t", {}, VALID)
        compose(xr, {}, settings_)
        return "composed"

    baseline = Campaign("baseline: a valid spec, not memoised")
    for i in range(max(200, args.cases // 20)):
        baseline.run(functools.partial(valid, f"b{i}"))

    pure = Campaign("compose (pure path)")
    generate(args.cases, 3000, lambda spec: pure.run(lambda: judge(spec)))

    runner = FunctionRunner()
    codec = Campaign("RunFunction in process")

    def through_codec(spec: dict[str, Any]) -> str:
        return judge_response(asyncio.run(runner.RunFunction(request_for(spec))))

    generate(
        max(100, args.cases // 10),
        PROTOBUF_SAFE_DEPTH,
        lambda s: codec.run(lambda: through_codec(s)),
    )

    baseline.report(None)
    pure.report(baseline.times)
    codec.report(baseline.times)


if __name__ == "__main__":
    main()
