"""The provider-family table: every provider an XR may name has a family, and the function
decodes every observed field any family reads."""

from function.compose import OBSERVED_FIELDS
from function.compose.providers import FAMILIES
from function.model.xr import Provider


def test_every_provider_has_a_family() -> None:
    assert set(FAMILIES) == set(Provider)


def test_the_function_decodes_every_field_a_family_reads() -> None:
    for family in FAMILIES.values():
        for name, paths in family.observed_fields.items():
            assert set(paths) <= set(OBSERVED_FIELDS[name]), name


def test_the_reconciler_watches_the_cluster_kind_of_every_cloud_family() -> None:
    """A clusterSelector can pick any cluster a cloud family composes, in either scope."""
    from function.compose import CompositeResource, compose
    from function.model.clusters import CLOUD_CLUSTER_KINDS
    from function.model.input import FunctionInput
    from function.model.xr import CLOUDS

    settings = {
        "eks": {
            "roleArn": "arn:aws:iam::123456789012:role/c",
            "nodeRoleArn": "arn:aws:iam::123456789012:role/n",
            "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"],
        },
        "gke": {"zone": "us-east1-b"},
        "aks": {"resourceGroup": "rg"},
    }
    emitted = set()
    for provider in CLOUDS:
        spec = {
            "provider": provider.value,
            provider.value: settings[provider.value],
            "region": "us-east1" if provider is Provider.GKE else "eastus",
            "gpu": {"product": "T4"},
        }
        if provider is Provider.EKS:
            spec["region"] = "us-east-1"
        for namespace, groups in (("team-a", "namespaced"), (None, "legacy")):
            xr = CompositeResource(
                "aifleet.io/v1alpha1", "AIInferenceCluster", "c", namespace, spec=spec
            )
            got = compose(xr, {}, FunctionInput.model_validate({"cloudGroups": groups}))
            emitted.add((got.status["cluster"]["apiVersion"], got.status["cluster"]["kind"]))
    assert emitted == set(CLOUD_CLUSTER_KINDS)
