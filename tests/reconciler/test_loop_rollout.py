"""``maxUpdate`` on the emulator: a change rolls onto at most that many clusters at once (read
from the workload clusters' write logs), a cluster is done when its add-on is healthy, and a
failing cluster stops the rollout from spreading and says so in status."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from function.kube.client import FIELD_MANAGER
from tests.reconciler.harness import (
    Harness,
    Obj,
    addon_phases,
    bundle,
    capi_cluster,
    condition,
    configmap_addon,
    running,
)

SELECTOR = {"matchLabels": {"env": "edge"}}
ACKED = """
function evaluate()
  local hs = {resources = {}}
  for _, r in ipairs(resources) do
    local status = "Progressing"
    if r.data ~= nil and r.data.ack == r.data.value then status = "Healthy" end
    table.insert(hs.resources, {resource = r, status = status, message = "waiting for ack"})
  end
  return hs
end
"""
"""Healthy once something in the cluster acknowledged the ConfigMap's value."""


def fleet(data: str, **spec: object) -> Obj:
    gated = {**configmap_addon("gated", data=data), "health": {"builtin": False, "lua": ACKED}}
    return bundle("fleet", [gated], clusterSelector=SELECTOR, clusterRef=None, **spec)


def names(count: int) -> list[str]:
    return [f"c{i}" for i in range(count)]


@contextlib.asynccontextmanager
async def operator(h: Harness, clusters: list[str], delay: float = 0.2) -> AsyncIterator[None]:
    """In every cluster, acknowledge the gated ConfigMap's value ``delay`` after it appears."""
    seen: dict[tuple[str, str], float] = {}

    async def loop() -> None:
        loop_time = asyncio.get_running_loop().time
        while True:
            for name in clusters:
                cm = h.workload(name).find("v1", "ConfigMap", "gated", "apps")
                if cm is None or cm["data"].get("ack") == cm["data"]["value"]:
                    continue
                first = seen.setdefault((name, cm["data"]["value"]), loop_time())
                if loop_time() - first >= delay:
                    h.workload(name).patch(
                        "v1",
                        "ConfigMap",
                        "gated",
                        {"data": {"ack": cm["data"]["value"]}},
                        namespace="apps",
                        field_manager="operator",
                    )
            await asyncio.sleep(0.02)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def windows(h: Harness, clusters: list[str], marks: dict[str, int]) -> list[tuple[float, float]]:
    """Per cluster, from the reconciler's write of the change to the acknowledgement that
    made it healthy, from the cluster's write log."""
    spans = []
    for name in clusters:
        writes = h.workload(name).writes.filter(since=marks[name], kind="ConfigMap", name="gated")
        start = min(w.time for w in writes if w.field_manager == FIELD_MANAGER)
        end = max(w.time for w in writes if w.field_manager == "operator")
        spans.append((start, end))
    return spans


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    return peak


def rolled_out(generation: int, clusters: int) -> Callable[[Obj], bool]:
    def check(b: Obj) -> bool:
        rollout = (b.get("status") or {}).get("rollout") or {}
        return rollout.get("generation") == generation and rollout.get("updatedClusters") == (
            clusters
        )

    return check


async def test_max_update_two_over_ten_clusters_never_has_more_than_two_updating(
    tmp_path: Path,
) -> None:
    clusters = names(10)
    async with running(tmp_path, workers=8) as h:
        for name in clusters:
            h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
        for name in clusters:
            await h.wait_workload(name)
        marks = {name: h.workload(name).writes.mark() for name in clusters}
        async with operator(h, clusters):
            h.mgmt.apply(fleet("v1", maxUpdate=2), field_manager="test")
            got = await h.wait_bundle("fleet", rolled_out(1, 10), within=30)
            assert condition(got, "Ready")["status"] == "True"
            first = windows(h, clusters, marks)
            assert most_at_once(first) == 2

            # A change to the bundle rolls the same way, two clusters at a time.
            marks = {name: h.workload(name).writes.mark() for name in clusters}
            h.mgmt.apply(fleet("v2", maxUpdate="20%"), field_manager="test")
            got = await h.wait_bundle("fleet", rolled_out(2, 10), within=30)
            second = windows(h, clusters, marks)
            assert most_at_once(second) == 2
        for name in clusters:
            assert h.workload(name).get("v1", "ConfigMap", "gated", "apps")["data"]["value"] == "v2"
        rollout = got["status"]["rollout"]
        assert (rollout["updatingClusters"], rollout["failedClusters"]) == ([], [])
        assert rollout["waitingClusters"] == 0


async def test_a_failing_cluster_stops_the_rollout_and_status_says_so(tmp_path: Path) -> None:
    clusters = names(3)
    broken = configmap_addon("broken", data="{{ cluster.labels.nowhere.deeper }}")
    async with running(tmp_path) as h:
        for name in clusters:
            h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
        for name in clusters:
            await h.wait_workload(name)
        spec = {"clusterSelector": SELECTOR, "clusterRef": None, "maxUpdate": 1}
        h.mgmt.apply(bundle("fleet", [broken], **spec), field_manager="test")
        got = await h.wait_bundle(
            "fleet", lambda b: ((b.get("status") or {}).get("rollout") or {}).get("failedClusters")
        )
        await asyncio.sleep(0.5)  # time enough to spread, were it not halted
        got = h.bundle("fleet")
        rollout = got["status"]["rollout"]
        assert len(rollout["failedClusters"]) == 1
        assert (rollout["updatingClusters"], rollout["waitingClusters"]) == ([], 2)
        assert rollout["message"].startswith(
            f"rollout halted: the change failed on {rollout['failedClusters'][0]}"
        )
        ready = condition(got, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "RolloutHalted")
        assert [c["clusterRef"]["name"] for c in got["status"]["clusters"]] == [
            rollout["failedClusters"][0].split("/")[1]
        ]
        assert addon_phases(got) == {"broken": "Failed"}

        # Fixed, the change rolls on to every cluster.
        fixed = configmap_addon("broken", data="fixed")
        h.mgmt.apply(bundle("fleet", [fixed], **spec), field_manager="test")
        got = await h.wait_bundle("fleet", rolled_out(2, 3), within=15)
        assert condition(got, "Ready")["status"] == "True"
        for name in clusters:
            assert h.workload(name).get("v1", "ConfigMap", "broken", "apps")["data"]["value"] == (
                "fixed"
            )


async def test_a_bad_max_update_is_refused_naming_the_field(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [configmap_addon("a")], maxUpdate="0%"), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: condition(b, "Ready").get("reason") == "InvalidSpec"
        )
        message = condition(got, "Ready")["message"]
        assert "spec.maxUpdate" in message
        assert "'0%' is not a percentage" in message


async def test_a_restart_mid_rollout_keeps_to_max_update(tmp_path: Path) -> None:
    clusters = names(4)
    async with running(tmp_path) as h:
        for name in clusters:
            h.mgmt.apply(capi_cluster(name, labels={"env": "edge"}), field_manager="test")
        for name in clusters:
            await h.wait_workload(name)
        async with operator(h, clusters):
            h.mgmt.apply(fleet("v1", maxUpdate=1), field_manager="test")
            await h.wait_bundle("fleet", rolled_out(1, 4), within=30)
        # Nothing acknowledges v2: the first cluster it reaches stays updating.
        marks = {name: h.workload(name).writes.mark() for name in clusters}
        h.mgmt.apply(fleet("v2", maxUpdate=1), field_manager="test")
        rolling = await h.wait_bundle(
            "fleet",
            lambda b: (
                len(((b.get("status") or {}).get("rollout") or {}).get("updatingClusters") or [])
                == 1
                and b["status"]["rollout"]["generation"] == 2
            ),
        )
        await asyncio.sleep(0.5)

        def reached() -> list[str]:
            return [
                name
                for name in clusters
                if h.workload(name).writes.filter(
                    since=marks[name], field_manager=FIELD_MANAGER, name="gated"
                )
            ]

        assert reached() == [rolling["status"]["rollout"]["updatingClusters"][0].split("/")[1]]
        await h.restart()
        await asyncio.sleep(1.5)  # time enough to spread, were the bound lost
        assert reached() == [rolling["status"]["rollout"]["updatingClusters"][0].split("/")[1]]
        rollout = h.bundle("fleet")["status"]["rollout"]
        assert (rollout["generation"], len(rollout["updatingClusters"])) == (2, 1)
        assert rollout["waitingClusters"] == 3

        # Acknowledged, the change rolls on from where it was, one cluster at a time.
        async with operator(h, clusters):
            got = await h.wait_bundle("fleet", rolled_out(2, 4), within=30)
        spans = windows(h, clusters, marks)
        assert most_at_once(spans) == 1
        assert condition(got, "Ready")["status"] == "True"

        # Rolled out and settled, a restart writes nothing: the rollout's status stays.
        await h.settle()
        settled, mgmt_mark = h.bundle("fleet")["status"], h.mgmt.writes.mark()
        assert settled["rollout"] == {
            "generation": 2,
            "updatingClusters": [],
            "updatedClusters": 4,
            "failedClusters": [],
            "waitingClusters": 0,
        }
        await h.restart()
        await asyncio.sleep(0.5)
        await h.settle()
        assert h.mgmt.writes.filter(since=mgmt_mark) == []
        assert h.bundle("fleet")["status"] == settled
