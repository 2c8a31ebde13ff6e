"""The install's RBAC grants named kinds only: Crossplane's aggregated role exactly the kinds
the function composes (found by composing every example XR in every delivery mode, Cluster
API version and scope), and the reconciler's role every cluster kind it selects and reads."""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from function.compose import naming
from function.compose.kinds import KINDS
from function.compose.pipeline import desired_state
from function.errors import SpecError
from function.model.clusters import CLOUD_CLUSTER_KINDS
from function.model.input import CapiApiVersion, CloudGroups, Delivery, FunctionInput
from function.model.xr import Infrastructure

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "examples" / "install"
CRD_DIRS = ("tests/schemas", "package/crds", "function/testing/crds", "xrds", "xrds/legacy")
BUILT_IN = {("", "ConfigMap"): "configmaps", ("", "Secret"): "secrets"}
COMPOSE_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
# The infrastructure cluster kind of each Cluster API provider `spec.capi.infrastructure` names.
INFRASTRUCTURE_CLUSTERS = {
    Infrastructure.OPENSTACK: "openstackclusters",
    Infrastructure.AWS: "awsclusters",
    Infrastructure.AZURE: "azureclusters",
    Infrastructure.GCP: "gcpclusters",
    Infrastructure.DOCKER: "dockerclusters",
    Infrastructure.METAL3: "metal3clusters",
}

Obj = dict[str, Any]
Grant = tuple[str, str]  # (API group, resource)


def install_docs() -> list[Obj]:
    docs: list[Obj] = []
    for path in sorted(INSTALL.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def plurals() -> dict[tuple[str, str], str]:
    """(group, kind) → resource, from every CRD and XRD the repository carries."""
    found = dict(BUILT_IN)
    for folder in CRD_DIRS:
        for path in sorted((REPO / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") not in (
                    "CustomResourceDefinition",
                    "CompositeResourceDefinition",
                ):
                    continue
                spec = doc["spec"]
                for names in (spec["names"], spec.get("claimNames")):
                    if names:
                        found[(spec["group"], names["kind"])] = names["plural"]
    return found


def composed_objects() -> Iterator[Obj]:
    """Every object the function composes for the example XRs, in every delivery mode, Cluster
    API version and scope (a namespaced XR also as its legacy cluster-scoped form)."""
    for path in sorted((REPO / "examples" / "xrs").glob("*.yaml")):
        xr = yaml.safe_load(path.read_text())
        metadata = xr["metadata"]
        if metadata.get("namespace"):
            forms = [
                (metadata["namespace"], False, xr["kind"]),
                (metadata["namespace"], True, "X" + xr["kind"]),
            ]
        else:
            forms = [(metadata["labels"][naming.CLAIM_NAMESPACE_LABEL], True, xr["kind"])]
        composed = 0
        for (tenant, legacy, kind), delivery, capi in itertools.product(
            forms, Delivery, CapiApiVersion
        ):
            settings = FunctionInput(
                delivery=delivery,
                capi_api_version=capi,
                cloud_groups=CloudGroups.LEGACY if legacy else CloudGroups.NAMESPACED,
            )
            try:
                state = desired_state(
                    metadata["name"], tenant, xr["spec"], settings, legacy=legacy, kind=kind
                )
            except SpecError:
                continue  # e.g. templated manifests, which only the reconciler delivery renders
            composed += 1
            yield from state.cluster.values()
            yield from state.delivery.resources.values()
        assert composed, f"{path.name} composes in no delivery mode"


def rules_of(docs: list[Obj], *, label: str) -> list[Obj]:
    """The rules of the ClusterRoles carrying ``label: "true"``."""
    return [
        rule
        for doc in docs
        if doc["kind"] == "ClusterRole"
        and (doc["metadata"].get("labels") or {}).get(label) == "true"
        for rule in doc.get("rules") or []
    ]


def grants(rules: list[Obj], verbs: set[str]) -> set[Grant]:
    """(group, resource) pairs granted with at least ``verbs``."""
    return {
        (group, resource)
        for rule in rules
        if verbs <= set(rule["verbs"])
        for group in rule["apiGroups"]
        for resource in rule.get("resources") or []
    }


def test_no_rule_grants_every_resource_verb_or_group() -> None:
    for doc in install_docs():
        for rule in doc.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (doc["metadata"]["name"], field, rule)


def test_crossplane_is_granted_exactly_the_kinds_the_function_composes() -> None:
    names = plurals()
    composed = set()
    for obj in composed_objects():
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, obj["kind"]) in names, f"no CRD names the plural of {group}/{obj['kind']}"
        composed.add((group, names[(group, obj["kind"])]))
    rules = rules_of(install_docs(), label="rbac.crossplane.io/aggregate-to-crossplane")
    assert grants(rules, COMPOSE_VERBS) == composed
    assert grants(rules, set()) == composed  # nothing else, not even read-only


@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_the_reconciler_reads_every_cluster_kind_it_selects(verb: str) -> None:
    names = plurals()
    granted = grants(rules_of(install_docs(), label="aifleet.io/aggregate-to-reconciler"), {verb})
    wanted = {("cluster.x-k8s.io", "clusters")}
    for api_version, kind in CLOUD_CLUSTER_KINDS:
        group = api_version.rpartition("/")[0]
        wanted.add((group, names[(group, kind)]))
    for kind in KINDS:  # the XRs a bundle's clusterRef may name, and their claims
        wanted.add(("aifleet.io", names[("aifleet.io", kind)]))
    assert wanted <= granted


def test_the_reconciler_reads_the_infrastructure_of_every_capi_provider() -> None:
    granted = grants(rules_of(install_docs(), label="aifleet.io/aggregate-to-reconciler"), {"get"})
    assert set(INFRASTRUCTURE_CLUSTERS) == set(Infrastructure)
    for resource in INFRASTRUCTURE_CLUSTERS.values():
        assert ("infrastructure.cluster.x-k8s.io", resource) in granted
    assert ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes") in granted
