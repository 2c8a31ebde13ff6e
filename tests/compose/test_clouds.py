"""Cloud families: the machine table, the managed resources composed and their readiness.

The golden cases (``tests/cases/*eks*``) hold whole responses; these tests pin the rules behind
them — every product a cloud offers has a machine per size, what is not offered is refused with
what is, the node image decides who installs the driver, and readiness follows the managed
resources' ``Ready`` conditions in the order the cluster comes up.
"""

from typing import Any

import pytest

from function.catalog.clouds import OFFERS, NotOfferedError, RegionClass, machine, region_class
from function.compose import CompositeResource, compose
from function.errors import SpecError
from function.model.input import FunctionInput
from function.model.xr import GpuProduct, Provider

EKS = {
    "roleArn": "arn:aws:iam::123456789012:role/cluster",
    "nodeRoleArn": "arn:aws:iam::123456789012:role/nodes",
    "subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"],
}


def spec(provider: str = "eks", **extra: Any) -> dict[str, Any]:
    settings = {"eks": EKS}
    return {
        "provider": provider,
        **settings,
        "region": "us-east-1",
        "gpu": {"product": "L4", "maxNodes": 5},
        "models": [
            {"name": "llama-3-8b", "parameters": "8B", "source": "hf://meta-llama/Llama-3.1-8B"}
        ],
        **extra,
    }


def run(
    body: dict[str, Any],
    observed: dict[str, Any] | None = None,
    settings: FunctionInput | None = None,
    namespace: str | None = "team-a",
) -> Any:
    xr = CompositeResource("aifleet.io/v1alpha1", "AIInferenceCluster", "c1", namespace, spec=body)
    return compose(xr, observed or {}, settings or FunctionInput())


def ready(value: bool, synced: bool = True, message: str = "") -> dict[str, Any]:
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": str(value),
                    "reason": "Available" if value else "Creating",
                },
                {
                    "type": "Synced",
                    "status": str(synced),
                    "reason": "ReconcileSuccess" if synced else "ReconcileError",
                    "message": message,
                },
            ]
        }
    }


def test_every_offered_product_is_a_catalog_product_with_distinct_sizes() -> None:
    for provider, classes in OFFERS.items():
        for klass, products in classes.items():
            for product, machines in products.items():
                assert product in GpuProduct
                sizes = [m.gpus for m in machines]
                assert len(sizes) == len(set(sizes)), (provider, klass, product)


def test_sovereign_regions_offer_fewer_products() -> None:
    assert region_class(Provider.EKS, "us-gov-west-1") is RegionClass.SOVEREIGN
    assert region_class(Provider.EKS, "cn-north-1") is RegionClass.SOVEREIGN
    assert region_class(Provider.EKS, "eu-west-1") is RegionClass.COMMERCIAL
    assert machine(Provider.EKS, "eu-west-1", GpuProduct.H100_80GB, 8).name == "p5.48xlarge"
    offered = "offers no H100-80GB; it offers: T4, A10G, A100-40GB"
    with pytest.raises(NotOfferedError, match=offered):
        machine(Provider.EKS, "us-gov-west-1", GpuProduct.H100_80GB, 8)


def test_a_size_not_offered_names_the_sizes_that_are() -> None:
    with pytest.raises(NotOfferedError) as caught:
        machine(Provider.EKS, "us-east-1", GpuProduct.L4, 2)
    assert caught.value.field == "perNode"
    assert "1 (g6.xlarge), 4 (g6.12xlarge), 8 (g6.48xlarge); not 2" in str(caught.value)


def test_eks_gpu_node_group_carries_the_machine_ami_taint_and_scaling() -> None:
    got = run(spec(gpu={"product": "L4", "perNode": 4, "minNodes": 2, "maxNodes": 6}))
    group = got.resources["node-group-gpu"].body["spec"]
    assert group["forProvider"]["instanceTypes"] == ["g6.12xlarge"]
    assert group["forProvider"]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["forProvider"]["taint"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    ]
    assert group["forProvider"]["scalingConfig"] == {"minSize": 2, "maxSize": 6}
    assert group["initProvider"] == {"scalingConfig": {"desiredSize": 2}}
    bottlerocket = run(spec(eks={**EKS, "nodeImage": "bottlerocket", "capacityType": "spot"}))
    fields = bottlerocket.resources["node-group-gpu"].body["spec"]["forProvider"]
    assert (fields["amiType"], fields["capacityType"]) == ("BOTTLEROCKET_x86_64_NVIDIA", "SPOT")


def test_eks_gpu_operator_leaves_driver_and_toolkit_to_the_ami() -> None:
    bundle = run(spec()).resources["addon-bundle"].body
    operator = next(a for a in bundle["spec"]["addons"] if a["name"] == "gpu-operator")
    values = operator["helm"]["values"]
    assert (values["driver"], values["toolkit"]) == ({"enabled": False}, {"enabled": False})
    # the key defaults to kubeconfig, which the ClusterAuth writes
    assert bundle["spec"]["kubeconfigSecretRef"] == {"name": "c1-kubeconfig"}


def test_eks_readiness_follows_the_managed_resources_in_order() -> None:
    names = ("cluster", "cluster-auth", "node-group-cpu", "node-group-gpu")
    cases = [
        ({}, "Provisioning", False),
        ({"cluster": ready(True), "cluster-auth": ready(False)}, "Provisioning", False),
        ({n: ready(n in names[:2]) for n in names}, "InstallingAddons", False),
        ({n: ready(True) for n in names}, "InstallingAddons", True),
    ]
    for observed, phase, available in cases:
        got = run(spec(), observed)
        assert got.status["phase"] == phase, observed
        assert got.status["cluster"]["ready"] is available
        assert [got.resources[n].ready for n in names] == [
            (observed.get(n) or {}).get("status", {}).get("conditions", [{}])[0].get("status")
            == "True"
            for n in names
        ]


def test_eks_sync_failure_reaches_the_cluster_condition() -> None:
    observed = {
        "cluster": ready(True),
        "cluster-auth": ready(True),
        "node-group-cpu": ready(True),
        "node-group-gpu": ready(False, synced=False, message="AccessDenied: eks:CreateNodegroup"),
    }
    condition = run(spec(), observed).conditions[0]
    assert (condition.type, condition.status) == ("ClusterReady", False)
    assert "node-group-gpu cannot sync: AccessDenied: eks:CreateNodegroup" in condition.message


@pytest.mark.parametrize(
    "eks,path",
    [
        ({**EKS, "roleArn": "role/cluster"}, "spec.eks.roleArn"),
        ({**EKS, "subnetIds": ["subnet-0a1b2c3d4e5f60718"]}, "spec.eks.subnetIds"),
        ({**EKS, "subnetIds": ["sn-1", "sn-2"]}, "spec.eks.subnetIds[0]"),
        ({**EKS, "nodeImage": "ubuntu"}, "spec.eks.nodeImage"),
    ],
)
def test_bad_eks_settings_name_the_field(eks: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as caught:
        run(spec(eks=eks))
    assert path in [e.path for e in caught.value.errors]


def test_eks_settings_only_with_provider_eks() -> None:
    with pytest.raises(SpecError, match="eks is required with provider: eks, and only then"):
        run({**spec(provider="capi"), "capi": {"infrastructure": "aws"}})


def gke_spec(**gke: Any) -> dict[str, Any]:
    body = spec(provider="gke", region="europe-west4")
    del body["eks"]
    return {**body, "gke": {"zone": "europe-west4-a", **gke}}


def operator_values(body: dict[str, Any]) -> dict[str, Any]:
    bundle = run(body).resources["addon-bundle"].body
    operator = next(a for a in bundle["spec"]["addons"] if a["name"] == "gpu-operator")
    values: dict[str, Any] = operator["helm"]["values"]
    return values


def test_gke_driver_is_gkes_or_the_operators() -> None:
    pool = run(gke_spec()).resources["node-pool-gpu"].body["spec"]["forProvider"]["nodeConfig"]
    accelerator = pool["guestAccelerator"][0]
    assert (pool["machineType"], accelerator["type"], accelerator["count"]) == (
        "g2-standard-8",
        "nvidia-l4",
        1,
    )
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    values = operator_values(gke_spec())
    assert values["driver"] == {"enabled": False}
    assert values["toolkit"] == {"installDir": "/home/kubernetes/bin/nvidia"}
    by_operator = gke_spec(gpuDriver="operator")
    pool = run(by_operator).resources["node-pool-gpu"].body["spec"]["forProvider"]["nodeConfig"]
    assert pool["imageType"] == "UBUNTU_CONTAINERD"
    assert pool["guestAccelerator"][0]["gpuDriverInstallationConfig"] == {
        "gpuDriverVersion": "INSTALLATION_DISABLED"
    }
    assert "driver" not in operator_values(by_operator)


def test_gke_autoscales_in_total_and_is_ready_with_its_pools() -> None:
    body = gke_spec()
    body["gpu"] = {"product": "H100", "minNodes": 2, "maxNodes": 5}
    got = run(body)
    fields = got.resources["node-pool-gpu"].body["spec"]["forProvider"]
    assert fields["autoscaling"]["totalMinNodeCount"] == 2
    assert fields["autoscaling"]["totalMaxNodeCount"] == 5
    assert fields["nodeConfig"]["machineType"] == "a3-highgpu-8g"
    up = run(body, {"cluster": ready(True)})
    assert up.status["phase"] == "InstallingAddons" and not up.status["cluster"]["ready"]
    names = ("cluster", "node-pool-cpu", "node-pool-gpu")
    assert run(body, {n: ready(True) for n in names}).status["cluster"]["ready"] is True


def aks_spec(**aks: Any) -> dict[str, Any]:
    body = spec(provider="aks", region="westeurope")
    del body["eks"]
    body["gpu"] = {"product": "A100-80GB", "perNode": 1, "maxNodes": 3}
    return {**body, "aks": {"resourceGroup": "rg-fleet", **aks}}


def test_aks_gpu_pool_and_who_installs_the_driver() -> None:
    got = run(aks_spec())
    pool = got.resources["node-pool-gpu"].body
    fields = pool["spec"]["forProvider"]
    assert pool["metadata"]["annotations"]["crossplane.io/external-name"] == "gpu"
    assert (fields["vmSize"], fields["gpuDriver"]) == ("Standard_NC24ads_A100_v4", "None")
    assert fields["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert (fields["minCount"], fields["maxCount"]) == (1, 3)
    assert pool["spec"]["initProvider"] == {"nodeCount": 1}
    assert "driver" not in operator_values(aks_spec())
    by_cloud = aks_spec(gpuDriver="cloud", spot=True)
    fields = run(by_cloud).resources["node-pool-gpu"].body["spec"]["forProvider"]
    assert (fields["gpuDriver"], fields["priority"]) == ("Install", "Spot")
    assert "kubernetes.azure.com/scalesetpriority=spot:NoSchedule" in fields["nodeTaints"]
    values = operator_values(by_cloud)
    assert (values["driver"], values["toolkit"]) == ({"enabled": False}, {"enabled": False})


def test_aks_sovereign_regions_and_missing_products_are_refused_by_field() -> None:
    body = aks_spec()
    body["region"] = "usgovvirginia"
    with pytest.raises(SpecError) as caught:
        run(body)
    assert [e.path for e in caught.value.errors] == ["spec.gpu.product"]
    assert "it offers: T4, A100-40GB" in str(caught.value)
    body = aks_spec()
    body["gpu"] = {"product": "A100-80GB", "perNode": 3, "maxNodes": 3}
    with pytest.raises(SpecError) as caught:
        run(body)
    assert [e.path for e in caught.value.errors] == ["spec.gpu.perNode"]
