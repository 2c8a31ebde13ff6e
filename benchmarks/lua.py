"""Lua health rules: evaluations per second over one add-on's objects, against Python.

One add-on's worth of live objects (``--objects`` Deployments as the API serves them, with
managedFields and conditions) is judged over and over, for ``--seconds`` each, by:

* **baseline**: the reconciler's built-in Python check (`builtin_health` on every object),
  what the reconciler runs when an add-on has no ``health.lua``;
* the same check as a Sveltos HealthCheck Lua rule (global ``resources``), in a reused Lua
  state per thread (the default) and in a fresh state per evaluation;
* the same check as a validateHealths rule (global ``obj``, one evaluation per object);
* the objects' conversion into Lua alone, the floor under any Lua rule.

Every line prints evaluations/s, microseconds per evaluation and the ratio to the baseline
measured in the same run; the last line prints reuse against fresh states.

Then event rules: ``--events`` Deployments (10,000) pass through an EventSource whose selector
picks vLLM Deployments and whose ``evaluate`` flags the under-replicated ones
(``examples/lua/events/vllm-under-replicated``), against the same selector and predicate in
plain Python, the two passes taking turns for 7 rounds in this process; both print events
evaluated per second from CPU time, and the Lua/Python ratio of the best and of the median
pass. The Lua side runs each selector's script over its objects in batches, one crossing into
Lua per batch.

Last, event to applied over ``--clusters`` emulated clusters (100), median and p99 beside an
AddonBundle created directly: ``benchmarks/events.py``'s measurement (0 skips it).

    python benchmarks/lua.py [--seconds 2] [--objects 20] [--events 10000] [--clusters 100]
                             [--events-only]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lupa.lua51 import LuaRuntime  # noqa: E402

from benchmarks.events import report as event_to_applied  # noqa: E402
from function.lua.convert import globals_to_lua  # noqa: E402
from function.lua.events import compile_event_source  # noqa: E402
from function.lua.health import compile_health_rule  # noqa: E402
from function.lua.runtime import Sandbox  # noqa: E402
from function.model.events import parse_event_source_spec  # noqa: E402
from function.reconciler.health import builtin_health  # noqa: E402

HEALTHCHECK = """
function evaluate()
  local statuses = {}
  for _, d in ipairs(resources) do
    local s = d.status or {}
    local want = d.spec.replicas or 1
    local verdict = {resource = d, status = "Healthy"}
    if (s.observedGeneration or 0) < (d.metadata.generation or 0) then
      verdict.status, verdict.message = "Progressing", "rollout not yet observed"
    elseif (s.updatedReplicas or 0) < want or (s.availableReplicas or 0) < want then
      verdict.status = "Progressing"
      verdict.message = (s.availableReplicas or 0) .. "/" .. want .. " replicas available"
    end
    table.insert(statuses, verdict)
  end
  return {resources = statuses}
end
"""

VALIDATE_HEALTHS = """
function evaluate()
  local s = obj.status or {}
  local want = obj.spec.replicas or 1
  if (s.observedGeneration or 0) >= (obj.metadata.generation or 0)
      and (s.updatedReplicas or 0) >= want and (s.availableReplicas or 0) >= want then
    return {healthy = true}
  end
  return {healthy = false, message = (s.availableReplicas or 0) .. "/" .. want .. " available"}
end
"""


UNDER_REPLICATED = """
function evaluate()
  local wanted = (obj.spec or {}).replicas or 1
  local available = (obj.status or {}).availableReplicas or 0
  if available < wanted then
    return {matching = true, message = available .. "/" .. wanted .. " replicas available"}
  end
  return {matching = false}
end
"""

EVENT_SOURCE = {
    "resourceSelectors": [
        {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "labelFilters": [
                {"key": "app.kubernetes.io/name", "operation": "Equal", "value": "vllm"}
            ],
            "evaluate": UNDER_REPLICATED,
        }
    ]
}


ROUNDS = 7
"""Passes of the event comparison; each side's best and median are quoted."""


def under_replicated(obj: dict[str, Any]) -> tuple[bool, str | None]:
    """The event rule's predicate in plain Python."""
    wanted = (obj.get("spec") or {}).get("replicas") or 1
    available = (obj.get("status") or {}).get("availableReplicas") or 0
    if available < wanted:
        return True, f"{available}/{wanted} replicas available"
    return False, None


def deployment(i: int) -> dict[str, Any]:
    """A Deployment as the API server returns it: managed fields, status, conditions."""
    name = f"model-server-{i}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "models",
            "uid": f"6c1f0a3e-0000-4000-8000-{i:012d}",
            "resourceVersion": str(1000 + i),
            "generation": 3,
            "creationTimestamp": "2026-05-01T10:00:00Z",
            "labels": {"app.kubernetes.io/name": "vllm", "app": name},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "managedFields": [
                {
                    "manager": "aifleet",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "time": "2026-05-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}, "f:app.kubernetes.io/name": {}}},
                        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {}},
                    },
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "subresource": "status",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:availableReplicas": {}, "f:conditions": {}}},
                },
            ],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai:v0.6.3",
                            "args": ["--model", "meta-llama/Meta-Llama-3-8B", "--port", "8000"],
                            "ports": [{"containerPort": 8000, "name": "http"}],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ]
                },
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2 if i % 5 else 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }


def rate(run: Callable[[], object], seconds: float) -> float:
    """Evaluations per second of ``run``, after a warm-up."""
    for _ in range(3):
        run()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        run()
        done += 1
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="Time per measurement.")
    parser.add_argument("--objects", type=int, default=20, help="Objects per evaluation.")
    parser.add_argument("--events", type=int, default=10_000, help="Objects of the event pass.")
    parser.add_argument("--clusters", type=int, default=100, help="Clusters of event to applied.")
    parser.add_argument("--events-only", action="store_true", help="Only the event pass.")
    args = parser.parse_args()
    if args.events_only:
        events(args.events)
        return

    objects = [deployment(i) for i in range(args.objects)]
    reused, fresh = Sandbox(), Sandbox(reuse_states=False)
    aggregate = compile_health_rule(HEALTHCHECK, name="bench", sandbox=reused)
    aggregate_fresh = compile_health_rule(HEALTHCHECK, name="bench", sandbox=fresh)
    per_object = compile_health_rule(VALIDATE_HEALTHS, name="bench", sandbox=reused)
    expected = {i: builtin_health(o) for i, o in enumerate(objects)}
    for rule in (aggregate, aggregate_fresh, per_object):
        got = rule(copy.deepcopy(objects))
        assert [v.healthy for v in got.values()] == [v.healthy for v in expected.values()]

    runtime = LuaRuntime()  # the conversion floor: the same conversion into a bare state
    workloads: list[tuple[str, Callable[[], object]]] = [
        ("baseline: built-in Python check", lambda: [builtin_health(o) for o in objects]),
        ("Lua HealthCheck, reused state", lambda: aggregate(objects)),
        ("Lua HealthCheck, fresh state", lambda: aggregate_fresh(objects)),
        ("Lua validateHealths, reused state", lambda: per_object(objects)),
        ("objects into Lua only (floor)", lambda: globals_to_lua(runtime, {"resources": objects})),
    ]
    print(f"{args.objects} Deployments per evaluation, {args.seconds:g}s per measurement")
    rates: dict[str, float] = {}
    for label, run in workloads:
        rates[label] = rate(run, args.seconds)
        ratio = rates[workloads[0][0]] / rates[label]
        print(
            f"  {label:<36} {rates[label]:>9.0f} evals/s {1e6 / rates[label]:>9.1f} us/eval"
            f"   {ratio:>6.1f}x the baseline's time"
        )
    speedup = rates["Lua HealthCheck, reused state"] / rates["Lua HealthCheck, fresh state"]
    print(f"  reused state vs fresh state: {speedup:.2f}x the evaluations per second")
    events(args.events)
    if args.clusters:
        event_to_applied(args.clusters)


def events(count: int) -> None:
    """Events evaluated per second by an EventSource rule, against plain Python."""
    objects = [deployment(i) for i in range(count)]
    spec = parse_event_source_spec(EVENT_SOURCE)
    rules = compile_event_source(spec, name="bench", sandbox=Sandbox())
    selector = spec.resource_selectors[0]

    def python() -> list[int]:
        return [i for i, o in enumerate(objects) if selector.matches(o) and under_replicated(o)[0]]

    def lua() -> list[int]:
        return list(rules.evaluate(objects).matching)

    assert lua() == python() and len(python()) == count // 5
    print(f"{count} Deployments through an EventSource rule, CPU time per pass, {ROUNDS} rounds")
    python_times, lua_times = [], []
    for _ in range(ROUNDS):  # side by side, so both sides see the same load
        python_times.append(cpu_time(python))
        lua_times.append(cpu_time(lua))
    for label, times in (
        ("baseline: the same predicate in Python", python_times),
        ("Lua EventSource evaluate, reused state", lua_times),
    ):
        best, median = min(times), statistics.median(times)
        print(
            f"  {label:<44} {count / best:>10.0f} events/s {1e6 * best / count:>6.2f} us/event"
            f" (median {1e6 * median / count:.2f})"
        )
    best_ratio = min(python_times) / min(lua_times)
    median_ratio = statistics.median(python_times) / statistics.median(lua_times)
    print(
        f"  Lua at {best_ratio:.3f}x Python's rate (best of {ROUNDS}), {median_ratio:.3f}x (median)"
    )


def cpu_time(run: Callable[[], object]) -> float:
    """Process CPU seconds of one call of ``run``."""
    start = time.process_time()
    run()
    return time.process_time() - start


if __name__ == "__main__":
    main()
