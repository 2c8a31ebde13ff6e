"""The straightforward `stack_provided` that `function.placement.ledger`'s is checked and measured
against, and the namespaces both are run on.

`reference_stack_provided` reads every bundle of the namespace afresh on every call, its Helm
charts and its ``clusterSelector`` parsed again for each placement asked about: a namespace's
stacks cost placements x bundles reads, and a selector parse for each pair.
``tests/placement/test_stack_equivalence.py`` checks that `stack_provided` over `stack_sources`
answers as this does on random namespaces, and ``benchmarks/stacks.py`` measures both side by
side.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from function.model.common import LabelSelector
from function.model.xr import Runtime
from function.placement.delivery import DEPLOYMENT_LABEL
from function.placement.ledger import helm_charts, stack_charts
from function.reconciler.servingstack import RUNTIME_LABEL

REF = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster"}
CHARTS = ("gpu-operator", "vllm-stack", "cert-manager", "kserve-crd", "kserve-resources",
          "kserve-runtime-configs", "grafana")  # fmt: skip


def reference_stack_provided(
    runtime: Runtime,
    cluster: str,
    bundles: Iterable[Mapping[str, Any]],
    *,
    exclude: str,
    labels: Mapping[str, str] | None = None,
) -> bool:
    """Whether a bundle other than ``exclude`` serves ``runtime``'s whole stack on ``cluster``,
    every bundle read and every selector parsed on this call."""
    stack = stack_charts(runtime)
    namespace, name = cluster.split("/", 1)
    for bundle in bundles:
        m = bundle.get("metadata") or {}
        if f"{m.get('namespace')}/{m.get('name')}" == exclude or m.get("deletionTimestamp"):
            continue
        spec = bundle.get("spec") or {}
        if "clusterSelector" in spec:
            if labels is None or m.get("namespace") != namespace:
                continue
            try:
                selector = LabelSelector.model_validate(spec.get("clusterSelector") or {})
            except ValidationError:
                continue
            if not selector.matches(labels):
                continue
        else:
            ref = spec.get("clusterRef") or {}
            if ref.get("name") != name or (ref.get("namespace") or m.get("namespace")) != namespace:
                continue
        if spec.get("syncMode") == "DryRun":
            continue
        if stack <= helm_charts(spec.get("addons") or []):
            return True
    return False


def helm(chart: str) -> dict[str, Any]:
    """A Helm add-on of ``chart``, named after it."""
    return {"name": chart, "helm": {"repository": "https://charts.example", "chart": chart,
                                    "version": "1.0.0"}}  # fmt: skip


def placement(deployment: str, cluster: str, runtime: Runtime) -> dict[str, Any]:
    """The placement controller's bundle of ``deployment``'s model on ``cluster``."""
    labels = {DEPLOYMENT_LABEL: deployment, RUNTIME_LABEL: runtime.value}
    return {
        "metadata": {"name": f"{deployment}-on-{cluster}", "namespace": "team", "labels": labels},
        "spec": {"clusterRef": {**REF, "name": cluster}, "addons": [{"name": "model"}]},
    }


def namespace(
    clusters: int, selectors: int, rng: random.Random, *, odd: bool = True
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """A namespace of ``clusters`` clusters, each with two placements (vLLM, KServe) and a
    composed bundle of some stack charts, and ``selectors`` bundles picking clusters by label;
    the clusters' labels by ``namespace/name``. With ``odd``, some bundles are being deleted,
    plan only (DryRun), live in another namespace, name their cluster's namespace or carry a
    selector that does not parse, and some clusters are not listed."""
    bundles: list[dict[str, Any]] = []
    labels: dict[str, dict[str, str]] = {}
    for i in range(clusters):
        cluster = f"c{i}"
        if not odd or rng.random() > 0.1:
            labels[f"team/{cluster}"] = {
                "region": rng.choice(("eu", "us", "ap")),
                "serving": rng.choice(("vllm", "kserve", "none")),
            }
        bundles.append(placement("llama", cluster, Runtime.VLLM))
        bundles.append(placement("bert", cluster, rng.choice((Runtime.KSERVE, Runtime.TRITON))))
        charts = rng.sample(CHARTS, rng.randint(0, len(CHARTS)))
        composed: dict[str, Any] = {
            "metadata": {"name": f"{cluster}-addons", "namespace": "team"},
            "spec": {"clusterRef": {**REF, "name": cluster}, "addons": [helm(c) for c in charts]},
        }
        if odd:
            _oddity(composed, rng)
        bundles.append(composed)
    for s in range(selectors):
        selector: dict[str, Any] = {"matchLabels": {"serving": rng.choice(("vllm", "kserve"))}}
        if rng.random() < 0.5:
            op = rng.choice(("In", "NotIn", "Exists", "DoesNotExist"))
            values = [rng.choice(("eu", "us"))] if op in ("In", "NotIn") else []
            selector["matchExpressions"] = [{"key": "region", "operator": op, "values": values}]
        if odd and rng.random() < 0.1:
            selector = {"matchExpressions": [{"key": "region", "operator": "Near"}]}
        charts = rng.sample(CHARTS, rng.randint(2, len(CHARTS)))
        fleet: dict[str, Any] = {
            "metadata": {"name": f"fleet-{s}", "namespace": "team"},
            "spec": {"clusterSelector": selector, "addons": [helm(c) for c in charts]},
        }
        if odd:
            _oddity(fleet, rng)
        bundles.append(fleet)
    return bundles, labels


def _oddity(bundle: dict[str, Any], rng: random.Random) -> None:
    m, spec = bundle["metadata"], bundle["spec"]
    roll = rng.random()
    if roll < 0.05:
        m["deletionTimestamp"] = "2026-12-07T09:00:00Z"
    elif roll < 0.1:
        spec["syncMode"] = "DryRun"
    elif roll < 0.15:
        spec["syncMode"] = "OneTime"
    elif roll < 0.2:
        m["namespace"] = "other"
    elif roll < 0.25 and "clusterRef" in spec:
        spec["clusterRef"]["namespace"] = rng.choice(("team", "other"))
