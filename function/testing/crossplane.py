"""Crossplane's composition loop in miniature, for demos on the emulator.

Crossplane core cannot run here, so the demo plays its part against an emulated management
cluster, doing what the composite controller does for one XR (see `crossplane.md` §1):

- `crd_from_xrd` turns an XRD into the CRD that serves the XR kind, as Crossplane does;
- `CompositionLoop.step` reads the XR and the composed resources it owns (by the
  ``crossplane.io/composite`` label), sends them to the function as a RunFunctionRequest,
  server-side applies every desired composed resource with the composition-resource-name
  annotation, the composite label and an owner reference, and writes the XR's status.

It approximates: no composition revisions, no deletion of resources the function stops
returning, no connection details, results are returned rather than turned into Events.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.fn import wire
from function.fn.render import RESOURCE_NAME_ANNOTATION, build_request
from function.testing.cluster import EmulatedCluster

COMPOSITE_LABEL = "crossplane.io/composite"
FIELD_MANAGER = "apiextensions.crossplane.io/composed"

RunFunction = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


def crd_from_xrd(xrd: Mapping[str, Any]) -> dict[str, Any]:
    """The CRD Crossplane derives from a (v2, namespaced) XRD to serve its XR kind."""
    spec = xrd["spec"]
    versions = []
    for version in spec["versions"]:
        schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
        versions.append(
            {
                "name": version["name"],
                "served": version.get("served", True),
                "storage": version.get("referenceable", False),
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
            }
        )
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": xrd["metadata"]["name"]},
        "spec": {
            "group": spec["group"],
            "names": names,
            "scope": spec.get("scope", "Namespaced"),
            "versions": versions,
        },
    }


@dataclass
class StepResult:
    """What one pass of the loop saw and did."""

    xr: dict[str, Any]
    applied: list[str]
    results: list[fnv1.Result]


class CompositionLoop:
    """Compose one XR through a function, the way Crossplane's reconciler would."""

    def __init__(
        self, cluster: EmulatedCluster, run_function: RunFunction, step_input: Mapping[str, Any]
    ) -> None:
        self._cluster = cluster
        self._run = run_function
        self._input = step_input
        self._kinds: set[tuple[str, str]] = set()

    def step(self, api_version: str, kind: str, name: str, namespace: str) -> StepResult:
        """One reconcile of the XR: observe, run the function, apply, write status."""
        xr = self._cluster.get(api_version, kind, name, namespace)
        observed = self._observed(name, namespace)
        response = self._run(build_request(xr, observed, self._input))
        if any(r.severity == fnv1.SEVERITY_FATAL for r in response.results):
            return StepResult(xr, [], list(response.results))
        applied = [
            self._apply(xr, resource_name, wire.to_dict(desired.resource))
            for resource_name, desired in sorted(response.desired.resources.items())
        ]
        status = wire.to_dict(response.desired.composite.resource).get("status")
        if status:
            xr = self._cluster.patch_status(
                api_version, kind, name, status, namespace=namespace, field_manager=FIELD_MANAGER
            )
        return StepResult(xr, applied, list(response.results))

    def _observed(self, xr_name: str, namespace: str) -> list[dict[str, Any]]:
        found = []
        for api_version, kind in sorted(self._kinds):
            found += self._cluster.list(
                api_version,
                kind,
                namespace=namespace,
                label_selector=f"{COMPOSITE_LABEL}={xr_name}",
            )
        return found

    def _apply(self, xr: Mapping[str, Any], resource_name: str, body: dict[str, Any]) -> str:
        meta = body.setdefault("metadata", {})
        xr_meta = xr["metadata"]
        meta.setdefault("name", f"{xr_meta['name']}-{resource_name}")
        meta["namespace"] = xr_meta["namespace"]
        meta.setdefault("labels", {})[COMPOSITE_LABEL] = xr_meta["name"]
        meta.setdefault("annotations", {})[RESOURCE_NAME_ANNOTATION] = resource_name
        meta["ownerReferences"] = [
            {
                "apiVersion": xr["apiVersion"],
                "kind": xr["kind"],
                "name": xr_meta["name"],
                "uid": xr_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        body.pop("status", None)
        self._kinds.add((body["apiVersion"], body["kind"]))
        self._cluster.apply(body, field_manager=FIELD_MANAGER, force=True)
        return f"{body['kind']} {meta['namespace']}/{meta['name']}"
