"""The part of `make demo` that shows every XR kind and delivery mode, rendered by the function.

Each example XR of a kind — AIInferenceCluster, AITrainingCluster, EdgeAICluster on k3s and on
k0s — goes through the running ``aifleet serve`` over gRPC with its Composition's Input, and
the demo prints what came back: the composed cluster, the kind's own sizing, and the add-ons
in dependency order. Then the inference example is rendered with ``delivery: crossplane`` and
``delivery: sveltos`` with its Cluster observed initialized: as it is, it is refused (its extra
add-on is a Jinja2 template, which only the reconciler renders), and without that extra each
mode shows what it emits.
`function.demo` calls `show_kinds` after the live run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function.fn.render import build_request
from function.model.objects import load_documents

ROOT = Path(__file__).resolve().parents[2]
KIND_EXAMPLES = (
    ("h100-kserve.yaml", "aiinferencecluster.yaml"),
    ("training-h100.yaml", "aitrainingcluster.yaml"),
    ("edge-store-k3s.yaml", "edgeaicluster.yaml"),
    ("edge-factory-k0s.yaml", "edgeaicluster.yaml"),
)
DELIVERY_OBSERVED = ROOT / "examples" / "observed" / "installing" / "cluster.yaml"

Runner = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


def _step(composition: str) -> dict[str, Any]:
    doc = load_documents([ROOT / "compositions" / composition])[0]
    step: dict[str, Any] = doc["spec"]["pipeline"][0]["input"]
    return step


def _fatal(response: fnv1.RunFunctionResponse) -> str | None:
    fatal = [r.message for r in response.results if r.severity == fnv1.SEVERITY_FATAL]
    return "; ".join(fatal) if fatal else None


def _desired(response: fnv1.RunFunctionResponse) -> tuple[dict[str, Any], dict[str, Any]]:
    fatal = _fatal(response)
    if fatal:
        raise RuntimeError(f"the function refused an example: {fatal}")
    desired = json_format.MessageToDict(response).get("desired") or {}
    status = ((desired.get("composite") or {}).get("resource") or {}).get("status") or {}
    resources = {k: v["resource"] for k, v in (desired.get("resources") or {}).items()}
    return status, resources


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def describe(xr: dict[str, Any], status: dict[str, Any], resources: dict[str, Any]) -> list[str]:
    """A few lines on one rendered XR."""
    meta = xr["metadata"]
    cluster = resources["cluster"]
    topology = cluster["spec"]["topology"]
    pools = ", ".join(
        f"{p['name']} x{_number(p['replicas'])}" if "replicas" in p else f"{p['name']} autoscaled"
        for p in topology["workers"]["machineDeployments"]
    )
    cluster_class = topology.get("classRef", {}).get("name") or topology.get("class")
    lines = [
        f"{xr['kind']} {meta.get('namespace')}/{meta['name']}: Cluster class {cluster_class}, "
        f"version {topology['version']}, pools {pools}"
    ]
    gpu = status.get("gpu")
    if gpu:
        lines.append(
            f"  gpu: {_number(gpu['nodes'])} node(s) x {_number(gpu['perNode'])} {gpu['product']}"
        )
    if "training" in status:
        t = status["training"]
        lines.append(
            f"  training {t['model']}: {_number(t['bytesPerParameter'])} bytes a parameter, "
            f"{t['memoryGiB']} GiB sharded over {_number(t['gpus'])} GPUs "
            f"({t['perGpuGiB']} GiB each; at least {_number(t['minGpus'])})"
        )
    if "edge" in status:
        e = status["edge"]
        lines.append(
            f"  edge: control plane {e['controlPlane']}, broker {e['broker']}, "
            f"model engine {e.get('modelEngine', '-')}, GPUs {'yes' if e['gpus'] else 'no'}"
        )
    lines.extend(
        f"  model {model['name']}: {_number(model['replicas'])} x "
        f"{_number(model['gpusPerReplica'])} GPU(s), {model['memoryGiB']} GiB each"
        for model in status.get("models", [])
    )
    addons = resources["addon-bundle"]["spec"]["addons"]
    lines.append("  add-ons: " + _ordered(addons))
    return lines


def _ordered(addons: Iterable[dict[str, Any]]) -> str:
    return ", ".join(
        a["name"] + (f" (after {', '.join(a['dependsOn'])})" if a.get("dependsOn") else "")
        for a in addons
    )


def show_kinds(run: Runner) -> None:
    """Render one XR of each kind, then the delivery modes, and print them."""
    print("\nEvery XR kind, rendered by the function (aifleet render):")
    for xr_file, composition in KIND_EXAMPLES:
        xr = load_documents([ROOT / "examples" / "xrs" / xr_file])[0]
        status, resources = _desired(run(build_request(xr, (), _step(composition))))
        print(f"\naifleet render examples/xrs/{xr_file}")
        print("\n".join(describe(xr, status, resources)))
    xr = load_documents([ROOT / "examples" / "xrs" / KIND_EXAMPLES[0][0]])[0]
    observed = load_documents([DELIVERY_OBSERVED])
    print("\nThe same inference XR, its control plane up, in the other delivery modes:")
    for mode in ("crossplane", "sveltos"):
        step = {**_step(KIND_EXAMPLES[0][1]), "delivery": mode}
        refused = _fatal(run(build_request(xr, observed, step)))
        print(f"  delivery: {mode}: refused as is - {refused}")
        plain = {**xr, "spec": {**xr["spec"], "addons": {}}}
        _, resources = _desired(run(build_request(plain, observed, step)))
        emitted = sorted(
            f"{body['kind']}({body['apiVersion'].split('.')[0].split('/')[0]}) "
            f"{body['metadata']['name']}"
            for name, body in resources.items()
            if name != "cluster"
        )
        print(f"  delivery: {mode}, without the templated extra: " + ", ".join(emitted))
