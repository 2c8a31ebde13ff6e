"""Counting a cluster's connection failures: Down after the threshold, probes one at a time
with doubling back-off up to the cap, back on the first answer."""

from function.model.bundlestatus import ClusterAddonsStatus, ConnectionStatus
from function.model.common import ObjectRef
from function.reconciler.connection import Connections
from function.reconciler.store import GroupKind, ObjectId

CLUSTER = ObjectId(GroupKind("cluster.x-k8s.io", "Cluster"), "team-a", "c1")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_down_after_three_failures_probed_one_at_a_time_with_capped_back_off() -> None:
    clock = Clock()
    back: list[ObjectId] = []
    c = Connections(now=lambda: "T0", threshold=3, first_probe=1.0, longest=4.0, clock=clock)
    c.on_reconnect = back.append
    assert c.failed(CLUSTER, "refused") is None
    assert c.failed(CLUSTER, "refused") is None
    assert not c.is_down(CLUSTER)
    assert c.failed(CLUSTER, "refused") == 1.0
    assert c.is_down(CLUSTER)
    assert c.hold(CLUSTER) == 1.0  # nobody tries before the probe is due

    delays = []
    for _ in range(4):
        clock.t += 10
        assert c.hold(CLUSTER) is None  # this caller probes ...
        assert c.hold(CLUSTER) is not None  # ... and the others wait for it
        delays.append(c.failed(CLUSTER, "refused"))
    assert delays == [2.0, 4.0, 4.0, 4.0]

    ref = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name="c1")
    marked = c.mark(CLUSTER, ClusterAddonsStatus(cluster_ref=ref))
    assert marked.connection_status is ConnectionStatus.DOWN
    assert (marked.connection_message, marked.down_since) == ("refused", "T0")

    c.answered(CLUSTER)
    assert back == [CLUSTER]
    assert not c.is_down(CLUSTER)
    assert c.hold(CLUSTER) is None
    assert c.mark(CLUSTER, ClusterAddonsStatus(cluster_ref=ref)).connection_status is None


def test_an_answer_below_the_threshold_resets_the_count_without_a_reconnect() -> None:
    back: list[ObjectId] = []
    c = Connections(now=lambda: "T0", threshold=3)
    c.on_reconnect = back.append
    c.failed(CLUSTER, "refused")
    c.failed(CLUSTER, "refused")
    c.answered(CLUSTER)
    assert c.failed(CLUSTER, "refused") is None
    assert not c.is_down(CLUSTER)
    assert back == []


def test_a_cluster_the_status_reports_down_stays_down_since_then_on_its_first_failure() -> None:
    back: list[ObjectId] = []
    c = Connections(now=lambda: "T1", threshold=3, first_probe=1.0, longest=4.0, clock=Clock())
    c.on_reconnect = back.append
    assert c.failed(CLUSTER, "refused", down_since="T0") == 1.0
    assert c.is_down(CLUSTER)
    ref = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name="c1")
    marked = c.mark(CLUSTER, ClusterAddonsStatus(cluster_ref=ref))
    assert (marked.connection_status, marked.down_since) == (ConnectionStatus.DOWN, "T0")
    assert c.failed(CLUSTER, "refused", down_since="T0") == 2.0  # backs off as before
    c.answered(CLUSTER)
    assert back == [CLUSTER]
