"""Decisions in words: the text ``aifleet place`` prints and the status the controller writes.

`render_decision` lays a `Decision` out for a terminal: the outcome, then one line per
cluster with its score and reason, chosen clusters first; `render_status` does the same for
the status the placement controller wrote, with its phase and endpoint. `status_of` turns a
decision into the ``placements`` and ``candidates`` of `AIModelDeploymentStatus`. Neighbours:
`function.placement.decide` (the decision) and `function.reconciler.deployments` (the writer).
"""

from __future__ import annotations

from function.model.deployment import AIModelDeploymentStatus, CandidateStatus, PlacementStatus
from function.placement.decide import Decision


def render_decision(deployment: str, decision: Decision) -> str:
    """The decision as text lines."""
    lines = [f"{deployment}: {decision.message}"]
    if decision.assignments:
        lines.append("placement:")
        for a in decision.assignments:
            nodes = ", ".join(f"{node}={n}" for node, n in a.nodes)
            lines.append(
                f"  {a.cluster}: {a.replicas} replica(s) x {a.gpus_per_replica} {a.product}"
                f" = {a.gpus} GPUs [{nodes}]"
            )
    lines.append("clusters:")
    ordered = sorted(decision.verdicts, key=lambda v: (v.replicas == 0, v.score is None, v.cluster))
    width = max((len(v.cluster) for v in ordered), default=0)
    lines.extend(f"  {v.cluster:<{width}}  {v.reason}" for v in ordered)
    return "\n".join(lines) + "\n"


def status_of(decision: Decision) -> tuple[list[PlacementStatus], list[CandidateStatus]]:
    """The ``placements`` and ``candidates`` of the deployment's status."""
    placements = [
        PlacementStatus(
            cluster=a.cluster,
            replicas=a.replicas,
            gpu_product=a.product,
            gpus_per_replica=a.gpus_per_replica,
            nodes=dict(a.nodes),
        )
        for a in decision.assignments
    ]
    candidates = [
        CandidateStatus(cluster=v.cluster, score=v.score, reason=v.reason)
        for v in decision.verdicts
    ]
    return placements, candidates


def render_status(deployment: str, status: AIModelDeploymentStatus) -> str:
    """A written status as the text lines of `render_decision`, with phase and endpoint."""
    lines = [f"{deployment}: {status.phase}: {status.message}"]
    if status.placements:
        lines.append("placement:")
        for p in status.placements:
            nodes = ", ".join(f"{node}={n}" for node, n in sorted(p.nodes.items()))
            gpus = p.replicas * p.gpus_per_replica
            lines.append(
                f"  {p.cluster}: {p.replicas} replica(s) x {p.gpus_per_replica} {p.gpu_product}"
                f" = {gpus} GPUs [{nodes}]" + (f" serving at {p.endpoint}" if p.endpoint else "")
            )
    placed = {p.cluster for p in status.placements}
    ordered = sorted(
        status.candidates, key=lambda c: (c.cluster not in placed, c.score is None, c.cluster)
    )
    lines.append("clusters:")
    width = max((len(c.cluster) for c in ordered), default=0)
    lines.extend(f"  {c.cluster:<{width}}  {c.reason}" for c in ordered)
    return "\n".join(lines) + "\n"
