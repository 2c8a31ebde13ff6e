"""``aifleet place DEPLOYMENT.yaml --fleet FLEET.yaml``: a placement decision, offline.

Policy authors check where their `AIModelDeployment`s would land without a fleet: the fleet
file (`function.placement.fleetfile`) stands for the clusters' live capacity. Several
deployments in the file(s) are placed in order, each one's GPUs reserved for the next, as the
placement controller does. `place_files` returns the text the command prints; it reads files
and nothing else, and `function.placement` decides.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from function.errors import SpecError
from function.model.deployment import API_VERSION, KIND, parse_deployment_spec
from function.model.objects import load_documents
from function.placement.decide import place, reservations_of
from function.placement.explain import render_decision
from function.placement.fleetfile import load_fleet


def place_files(deployments: list[Path], fleet_path: Path) -> tuple[str, bool]:
    """The decisions as text, and whether every deployment was placed completely."""
    fleet_docs = load_documents([fleet_path])
    if len(fleet_docs) != 1:
        raise SpecError.at(str(fleet_path), f"expected one fleet document, found {len(fleet_docs)}")
    fleet, costs = load_fleet(fleet_docs[0])
    docs = [d for d in load_documents(deployments) if d.get("kind") == KIND]
    if not docs:
        raise SpecError.at(
            ", ".join(map(str, deployments)), f"no {API_VERSION} {KIND} document found"
        )
    out: list[str] = []
    complete = True
    for doc in docs:
        meta = doc.get("metadata") or {}
        name = f"{meta.get('namespace') or 'default'}/{meta.get('name') or '(unnamed)'}"
        spec = parse_deployment_spec(doc.get("spec"), root=f"{name}: spec")
        decision = place(name, spec, fleet, costs=costs)
        out.append(render_decision(name, decision))
        complete = complete and decision.complete
        fleet = replace(fleet, reservations=fleet.reservations + reservations_of(name, decision))
    return "\n".join(out), complete
