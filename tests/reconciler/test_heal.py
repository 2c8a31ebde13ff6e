"""When the healer checks a target for drift, on a clock the test moves: a new process
places each target's first check in the period by its key, spread over a fleet and each
within one period; then a check a period; a watch's suspicion at once."""

from function.reconciler.heal import Healer
from function.reconciler.keys import BundleKey, TargetKey
from function.reconciler.memory import Memory
from function.reconciler.store import GroupKind, ObjectId

PERIOD = 300.0
CLUSTER = GroupKind("cluster.x-k8s.io", "Cluster")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def target(i: int, bundle: str = "fleet") -> TargetKey:
    return TargetKey(BundleKey("team-a", bundle), ObjectId(CLUSTER, "team-a", f"c{i:04d}"))


def test_a_new_process_spreads_first_checks_over_one_period() -> None:
    clock, memory = Clock(), Memory()
    healer = Healer(PERIOD, memory, clock)
    keys = [target(i) for i in range(1000)]
    # The first look at each target (a restart's pass over the fleet) checks none of them.
    assert [k for k in keys if healer.due(k, memory.of(k))] == []
    # Each comes due when its requeue fires: once, at a place within the period.
    first: dict[TargetKey, float] = {}
    start = clock.now
    waits = {k: healer.wait(memory.of(k)) for k in keys}
    assert all(0 < w <= PERIOD for w in waits.values())
    for k, w in sorted(waits.items(), key=lambda kw: kw[1]):
        clock.now = start + w
        assert healer.due(k, memory.of(k))
        first[k] = clock.now - start
    tenths = [sum(1 for t in first.values() if n * 30 <= t < (n + 1) * 30) for n in range(10)]
    assert sum(tenths) == len(keys)  # all within the period
    assert all(60 <= count <= 160 for count in tenths[1:]), tenths  # none crowded
    # The next check of each is a period after its first: the fleet stays spread.
    k = keys[0]
    clock.now = start + first[k] + PERIOD * 0.5
    assert not healer.due(k, memory.of(k))
    assert healer.wait(memory.of(k)) == PERIOD * 0.5
    clock.now = start + first[k] + PERIOD
    assert healer.due(k, memory.of(k))


def test_the_same_target_has_the_same_place_in_every_process() -> None:
    places = []
    for _ in range(2):
        clock, memory = Clock(), Memory()
        healer = Healer(PERIOD, memory, clock)
        healer.due(target(7), memory.of(target(7)))
        places.append(healer.wait(memory.of(target(7))))
    assert places[0] == places[1]
    clock, memory = Clock(), Memory()
    healer = Healer(PERIOD, memory, clock)
    other = [target(7, "other"), target(8)]
    for k in other:
        healer.due(k, memory.of(k))
    assert {healer.wait(memory.of(k)) for k in other} != {places[0]}


def test_a_suspect_is_due_at_once_and_a_write_puts_the_check_a_period_off() -> None:
    clock, memory = Clock(), Memory()
    healer = Healer(PERIOD, memory, clock)
    k = target(1)
    assert not healer.due(k, memory.of(k))
    healer.suspect(k)
    assert healer.due(k, memory.of(k))
    assert not healer.due(k, memory.of(k))  # checked: not again until a period passes
    clock.now += 10
    healer.applied(memory.of(k))
    assert healer.wait(memory.of(k)) == PERIOD
    clock.now += PERIOD * 0.95
    assert healer.due(k, memory.of(k))
