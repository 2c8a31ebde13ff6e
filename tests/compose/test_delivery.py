"""Delivery modes for clusters that are no Cluster API Cluster (a Crossplane provider's), and
the gating rules of the crossplane mode, checked on the pure functions."""

import jsonschema

from function.compose.delivery import DELIVERY, DeliveryTarget
from function.compose.providers.family import ClusterState
from function.model.bundle import AddonSpec
from function.model.common import ObjectRef
from function.model.input import Delivery
from function.model.sync import SyncMode
from function.model.xrstatus import SecretKeyRef
from tests.schema.test_upstream_schemas import SCHEMAS, cel_errors

EKS = DeliveryTarget(
    "llm",
    "team-a",
    False,
    ObjectRef(api_version="eks.aws.m.upbound.io/v1beta1", kind="Cluster", name="llm"),
    SecretKeyRef(name="llm-kubeconfig", namespace="team-a", key="kubeconfig"),
    SyncMode.CONTINUOUS,
)
ADDONS = [
    AddonSpec.model_validate(
        {"name": "nfd", "helm": {"repository": "https://r", "chart": "nfd", "version": "1"}}
    ),
    AddonSpec.model_validate(
        {
            "name": "op",
            "dependsOn": ["nfd"],
            "helm": {"repository": "oci://r/charts", "chart": "op", "version": "2"},
        }
    ),
]


def valid(obj: dict) -> bool:
    schema, _, _ = SCHEMAS[(obj["apiVersion"], obj["kind"])]
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(obj))
    return not errors and not cel_errors(schema, obj)


def test_sveltos_registers_a_cluster_no_cluster_api_owns_and_selects_it() -> None:
    mode = DELIVERY[Delivery.SVELTOS]
    plan = mode.plan(EKS, {}, ADDONS)
    registered = plan.resources["sveltoscluster"]
    assert registered["kind"] == "SveltosCluster"
    assert registered["spec"] == {
        "kubeconfigName": "llm-kubeconfig",
        "kubeconfigKeyName": "kubeconfig",
    }
    profile = plan.resources["profile-tier-0"]
    assert profile["spec"]["clusterRefs"] == [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "SveltosCluster",
            "name": "llm",
            "namespace": "team-a",
        }
    ]
    assert all(valid(obj) for obj in plan.resources.values())
    ref = profile["spec"]["clusterRefs"][0]
    observed = {
        "sveltoscluster": {"status": {"ready": True}},
        "profile-tier-0": {"status": {"updatedClusters": {"clusters": [ref]}}},
    }
    done = mode.progress(plan, EKS, ClusterState(observed=True), observed, ["nfd", "op"])
    assert done.addons.ready == ("nfd",)
    assert done.resources["sveltoscluster"][1] is True


def test_crossplane_points_its_provider_configs_at_the_family_kubeconfig() -> None:
    mode = DELIVERY[Delivery.CROSSPLANE]
    plan = mode.plan(EKS, {}, ADDONS)
    secret = plan.resources["providerconfig-helm"]["spec"]["credentials"]["secretRef"]
    assert secret == {"name": "llm-kubeconfig", "namespace": "team-a", "key": "kubeconfig"}
    assert all(valid(obj) for obj in plan.resources.values())
    closed = mode.progress(plan, EKS, ClusterState(observed=True), {}, ["nfd", "op"])
    assert set(closed.resources) == {"providerconfig-helm"}
    deleting = ClusterState(observed=True, initialized=True, deleting=True)
    assert set(mode.progress(plan, EKS, deleting, {}, ["nfd", "op"]).resources) == {
        "providerconfig-helm"
    }
    up = ClusterState(observed=True, initialized=True)
    assert set(mode.progress(plan, EKS, up, {}, ["nfd", "op"]).resources) == {
        "providerconfig-helm",
        "release-nfd",
    }
