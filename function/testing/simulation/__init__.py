"""Controller simulation for emulated clusters (kwok-style stages, no controllers running).

`engine.Simulation` schedules rules after writes; the rules live in `workloads` (Deployment,
StatefulSet, DaemonSet, Job), `extensions` (CRDs, the GPU operator and device plugin, Crossplane
managed resources, other custom resources) and `capi` (Cluster API provisioning, four steps).
`default_rules` lists them all; every cluster gets every rule, switched on or off per cluster.
"""

from __future__ import annotations

from typing import Any

from function.testing.simulation.capi import capi_rules
from function.testing.simulation.engine import Rule, RuleSettings, Simulation
from function.testing.simulation.extensions import extension_rules
from function.testing.simulation.workloads import workload_rules


def default_rules() -> list[Rule]:
    """Every simulation rule, in a fixed order."""
    rules: list[Any] = [*workload_rules(), *extension_rules(), *capi_rules()]
    return rules


RULE_NAMES = tuple(rule.name for rule in default_rules())

__all__ = ["RULE_NAMES", "Rule", "RuleSettings", "Simulation", "default_rules"]
