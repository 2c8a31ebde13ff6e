"""Serving stacks: a namespace's stacks decided once per sync against every bundle read afresh.

The placement controller decides a namespace's serving stacks (`wanted_stacks`) whenever a
placement, a cluster's labels or another bundle's stack charts change: for every placement
bundle, whether another bundle already brings its runtime's stack to its cluster. The namespace
has ``--clusters`` clusters, each with two placements (vLLM and KServe or Triton) and a
composed bundle of a seeded random share of the stack charts, and ``--selectors`` bundles
picking clusters by label (`tests.placement.stackreference.namespace`). Side by side in the
same process: `stack_provided` for every placement over the namespace's bundles read once
(`stack_sources`: each bundle's charts and selector read once, its cluster looked up, a
selector value parsed once) against `reference_stack_provided`, which reads every bundle and
parses every selector for each placement. Both must give every placement the same answer
(checked) before timing. Then the whole `wanted_stacks`, which also builds the stack bundles.

    python benchmarks/stacks.py [--clusters 1000] [--selectors 10] [--seconds 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.model.xr import Runtime  # noqa: E402
from function.placement.ledger import stack_provided, stack_sources  # noqa: E402
from function.reconciler.servingstack import RUNTIME_LABEL, wanted_stacks  # noqa: E402
from tests.placement.stackreference import namespace, reference_stack_provided  # noqa: E402


def seconds_per_call(fn: Callable[[], object], seconds: float) -> float:
    """Mean seconds of one call of ``fn`` over about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls == 0:
        fn()
        calls += 1
    return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--selectors", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    bundles, labels = namespace(args.clusters, args.selectors, random.Random(7), odd=False)
    placements = [b for b in bundles if "labels" in b["metadata"]]
    others = [b for b in bundles if "labels" not in b["metadata"]]
    asked: list[tuple[Runtime, str, dict[str, Any]]] = []
    for bundle in placements:
        cluster = f"team/{bundle['spec']['clusterRef']['name']}"
        runtime = Runtime(bundle["metadata"]["labels"][RUNTIME_LABEL])
        asked.append((runtime, cluster, {"exclude": "", "labels": labels.get(cluster)}))

    def read_once() -> list[bool]:
        sources = stack_sources(others)
        return [stack_provided(r, c, sources, **given) for r, c, given in asked]

    def read_afresh() -> list[bool]:
        return [reference_stack_provided(r, c, others, **given) for r, c, given in asked]

    answers = read_once()
    assert answers == read_afresh(), "stack_provided differs from the reference"
    print(
        f"namespace: {args.clusters} clusters, {len(placements)} placements, {len(others)} other "
        f"bundles ({args.selectors} by clusterSelector); {sum(answers)} placements' stacks "
        "brought by another bundle, the same answer for every placement: yes"
    )
    afresh = seconds_per_call(read_afresh, args.seconds)
    once = seconds_per_call(read_once, args.seconds)
    print(f"every placement asked, bundles read afresh : {afresh * 1e3:9.2f} ms")
    print(f"every placement asked, bundles read once   : {once * 1e3:9.2f} ms  "
          f"({afresh / once:.1f}x faster)")  # fmt: skip
    whole = seconds_per_call(lambda: wanted_stacks("team", bundles, None, labels), args.seconds)
    print(f"wanted_stacks (with the stack bundles built): {whole * 1e3:9.2f} ms per sync")


if __name__ == "__main__":
    main()
