"""`stack_provided` over `stack_sources` answers as the straightforward reading of every bundle.

On random namespaces (`tests.placement.stackreference.namespace`: composed bundles of random
stack charts, selector bundles with set-based requirements, bundles being deleted, planning
only, in another namespace or naming a cluster's namespace, selectors that do not parse,
clusters not listed), for every cluster, runtime and excluded bundle, `stack_provided` must
say what `reference_stack_provided` says, and the namespace's wanted stacks must be those of the
placements no bundle serves by the reference.
"""

from __future__ import annotations

import random

import pytest

from function.model.xr import Runtime
from function.placement.ledger import stack_provided, stack_sources
from function.reconciler.servingstack import RUNTIME_LABEL, stack_bundle_name, wanted_stacks
from tests.placement.stackreference import namespace, reference_stack_provided


@pytest.mark.parametrize("seed", range(20))
def test_stack_provided_answers_as_every_bundle_read_afresh(seed: int) -> None:
    rng = random.Random(seed)
    bundles, labels = namespace(12, 6, rng)
    sources = stack_sources(bundles)
    excluded = ["", "team/c0-addons", "team/fleet-0", "other/c1-addons"]
    answers = set()
    for i in range(13):  # c12 has no bundle at all
        cluster = f"team/c{i}"
        for runtime in Runtime:
            for exclude in excluded:
                given = {"exclude": exclude, "labels": labels.get(cluster)}
                expected = reference_stack_provided(runtime, cluster, bundles, **given)
                assert stack_provided(runtime, cluster, sources, **given) == expected, (
                    cluster,
                    runtime,
                    exclude,
                )
                answers.add(expected)
    assert answers == {True, False}


@pytest.mark.parametrize("seed", range(10))
def test_the_wanted_stacks_are_those_no_bundle_serves_by_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    bundles, labels = namespace(12, 6, rng)
    others = [b for b in bundles if "labels" not in b["metadata"]]
    expected = {
        stack_bundle_name(f"team/{b['spec']['clusterRef']['name']}", runtime)
        for b in bundles
        if "labels" in b["metadata"]
        for runtime in [Runtime(b["metadata"]["labels"][RUNTIME_LABEL])]
        if not reference_stack_provided(
            runtime,
            f"team/{b['spec']['clusterRef']['name']}",
            others,
            exclude="",
            labels=labels.get(f"team/{b['spec']['clusterRef']['name']}"),
        )
    }
    assert set(wanted_stacks("team", bundles, None, labels)) == expected
    assert expected  # some cluster needs a stack of its own
