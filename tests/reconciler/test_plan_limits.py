"""A DryRun plan fits in status: diffs, the objects listed per add-on and the plans of a
whole bundle are cut to their limits, and what is cut is counted, never silently lost."""

from __future__ import annotations

import json

from function.model.bundlestatus import AddonPhase, AddonStatus, ClusterAddonsStatus
from function.model.common import ObjectRef
from function.model.plan import (
    MAX_DIFF_LINE_CHARS,
    MAX_DIFF_LINES,
    MAX_DIFF_PATH_CHARS,
    MAX_PLAN_BYTES,
    MAX_PLAN_ENTRIES,
    PlanAction,
    PlannedChange,
    PlanTruncation,
)
from function.reconciler.plan import (
    cap_diff,
    cap_plan,
    cap_status_plans,
    diff,
    plan_summary,
)


def size(plan: list[PlannedChange] | None) -> int:
    """JSON bytes of a listed plan, as stored (none when nothing is listed)."""
    if not plan:
        return 0
    body = [c.model_dump(mode="json", exclude_none=True) for c in plan or []]
    return len(json.dumps(body, separators=(",", ":")))


def change(action: PlanAction, i: int, **extra: object) -> PlannedChange:
    return PlannedChange(action=action, object=f"ConfigMap apps/cm-{i}", **extra)  # type: ignore[arg-type]


def test_a_diff_lists_its_first_fields_each_cut_to_a_line_and_counts_the_rest() -> None:
    key = "k" * 250  # a ConfigMap key may be 253 characters
    before = {"metadata": {"name": "x"}, "data": {f"{key}{i:03}": "a" * 10_000 for i in range(300)}}
    after = {"metadata": {"name": "x"}, "data": {f"{key}{i:03}": "b" * 10_000 for i in range(300)}}
    lines = cap_diff(list(diff(before, after)))
    assert len(lines) == MAX_DIFF_LINES + 1
    assert lines[-1] == f"… and {300 - MAX_DIFF_LINES} more fields"
    assert all(len(line) <= MAX_DIFF_LINE_CHARS for line in lines)
    path, values = lines[0].split(": ", 1)
    assert len(path) == MAX_DIFF_PATH_CHARS
    assert path.startswith("/data/kkkk") and path.endswith("kkk…kkkkkkkkkkkkkkkkkkkkk000"[-24:])
    assert values == f'"{"a" * 78}… -> "{"b" * 78}…'
    assert lines[1].split(": ", 1)[0].endswith("001")  # each path keeps its end
    short = cap_diff(['/data/value: "v1" -> "v2"'])
    assert short == ['/data/value: "v1" -> "v2"']


def test_a_plan_lists_changes_before_no_action_up_to_the_limit_and_counts_the_rest() -> None:
    changes = [change(PlanAction.NO_ACTION, i) for i in range(150)]
    changes += [change(PlanAction.CREATE, i) for i in range(150, 1150)]
    changes += [change(PlanAction.UPDATE, 1150, diff=["/data/value: 1 -> 2"])]
    changes += [change(PlanAction.DELETE, 1151)]
    listed, truncation = cap_plan(changes)
    assert len(listed) == MAX_PLAN_ENTRIES
    assert truncation == PlanTruncation(
        total=1152,
        listed=MAX_PLAN_ENTRIES,
        create=1000 - (MAX_PLAN_ENTRIES - 2),
        no_action=150,
    )
    assert listed[-2:] == changes[-2:]  # the update and the delete are listed, in plan order
    assert [c.action for c in listed].count(PlanAction.NO_ACTION) == 0
    summary = plan_summary(listed, truncation)
    assert summary == (
        f"dry run: would create 1000, update 1, delete 1 objects; listing {MAX_PLAN_ENTRIES}"
        " of 1152 objects"
    )
    # A small plan is listed whole, without a marker, and summarised as before.
    small = changes[-3:]
    assert cap_plan(small) == (small, None)
    assert plan_summary(small) == "dry run: would create 1, update 1, delete 1 objects"


def test_a_plan_of_large_diffs_is_cut_by_its_size() -> None:
    lines = ["/data/" + "x" * 190 for _ in range(MAX_DIFF_LINES)]
    changes = [change(PlanAction.UPDATE, i, diff=lines) for i in range(60)]
    listed, truncation = cap_plan(changes)
    assert size(listed) <= MAX_PLAN_BYTES
    assert truncation is not None and truncation.update == 60 - len(listed) > 0
    assert truncation.total == 60 and truncation.listed == len(listed)


def test_a_bundles_status_keeps_its_plans_under_the_budget_and_counts_the_rest() -> None:
    plan = [change(PlanAction.CREATE, i) for i in range(100)]
    one = size(plan) - 1  # without its brackets, with a comma after each entry
    budget = int(one * 3.5)

    def cluster(name: str) -> ClusterAddonsStatus:
        addon = AddonStatus(
            name="app",
            phase=AddonPhase.PENDING,
            message=plan_summary(plan),
            plan=plan,
        )
        return ClusterAddonsStatus(
            cluster_ref=ObjectRef(apiVersion="cluster.x-k8s.io/v1beta2", kind="Cluster", name=name),
            addons=[addon],
        )

    clusters = [cluster(f"c{i}") for i in range(10)]
    capped = cap_status_plans(clusters, budget=budget)
    listed = [len(c.addons[0].plan or []) for c in capped]
    assert listed[:3] == [100, 100, 100]
    assert 0 < listed[3] < 100
    assert listed[4:] == [0] * 6
    last = capped[-1].addons[0]
    assert last.plan is None
    assert last.plan_truncated == PlanTruncation(total=100, listed=0, create=100)
    assert (
        last.message
        == "dry run: would create 100, update 0, delete 0 objects; listing 0 of 100 objects"
    )
    assert capped[0] == clusters[0]  # within the budget: untouched
    assert sum(size(c.addons[0].plan) for c in capped) <= budget + len(capped)
