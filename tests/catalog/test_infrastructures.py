"""The GPU worker's machine per Cluster API infrastructure: names from the cloud table on the
public clouds, the site's flavor on OpenStack, host labels on Metal3, nothing on Docker."""

from __future__ import annotations

import pytest

from function.catalog.clouds import NotOfferedError
from function.catalog.gpus import GPUS
from function.catalog.infrastructures import gpu_variables
from function.model.xr import GpuProduct, Infrastructure


def variables(infrastructure: str, product: str, per_node: int, **kw: str) -> dict[str, object]:
    gpu = GpuProduct(product)
    found = gpu_variables(
        Infrastructure(infrastructure),
        region=kw.pop("region", "eu-west-1"),
        product=gpu,
        per_node=per_node,
        product_label=GPUS[gpu].label,
        **kw,
    )
    return {v["name"]: v["value"] for v in found}


@pytest.mark.parametrize(
    ("infrastructure", "product", "per_node", "region", "expected"),
    [
        ("aws", "H100-80GB", 8, "eu-west-1", {"instanceType": "p5.48xlarge"}),
        ("aws", "A10G", 4, "us-gov-west-1", {"instanceType": "g5.12xlarge"}),
        ("azure", "H100-80GB", 8, "westeurope", {"vmSize": "Standard_ND96isr_H100_v5"}),
        (
            "gcp",
            "A100-80GB",
            2,
            "europe-west4",
            {
                "machineType": "a2-ultragpu-2g",
                "accelerators": [{"type": "nvidia-a100-80gb", "count": 2}],
            },
        ),
        (
            "openstack",
            "L40S",
            4,
            "regionone",
            {
                "flavor": "gpu.l40s.4",
                "accelerators": [{"type": "nvidia-l40s", "count": 4}],
            },
        ),
        (
            "metal3",
            "H200-141GB",
            8,
            "dc-1",
            {
                "hostSelector": {
                    "matchLabels": {
                        "nvidia.com/gpu.product": GPUS[GpuProduct.H200_141GB].label,
                        "nvidia.com/gpu.count": "8",
                    }
                }
            },
        ),
        ("docker", "L4", 1, "local", {}),
    ],
)
def test_each_infrastructure_names_the_machine_its_own_way(
    infrastructure: str, product: str, per_node: int, region: str, expected: dict[str, object]
) -> None:
    assert variables(infrastructure, product, per_node, region=region) == expected


def test_a_named_machine_is_taken_as_it_is_and_skips_the_offer_check() -> None:
    assert variables("aws", "H100-80GB", 4, machine_type="p5.custom") == {
        "instanceType": "p5.custom"
    }
    assert variables("openstack", "T4", 1, machine_type="site.t4")["flavor"] == "site.t4"


@pytest.mark.parametrize(
    ("infrastructure", "product", "per_node", "region", "field", "offered"),
    [
        ("aws", "H100-80GB", 4, "eu-west-1", "perNode", "1 (p5.4xlarge), 8 (p5.48xlarge)"),
        ("aws", "H100-80GB", 8, "us-gov-west-1", "product", "T4, A10G, A100-40GB"),
        ("azure", "L4", 1, "westeurope", "product", "Azure (commercial regions"),
        ("gcp", "A10G", 1, "europe-west4", "product", "Google Cloud"),
    ],
)
def test_a_public_cloud_says_what_it_offers_instead(
    infrastructure: str, product: str, per_node: int, region: str, field: str, offered: str
) -> None:
    with pytest.raises(NotOfferedError) as caught:
        variables(infrastructure, product, per_node, region=region)
    assert caught.value.field == field
    assert offered in str(caught.value)


def test_every_product_has_an_accelerator_name() -> None:
    for product in GpuProduct:
        found = variables("openstack", product.value, 1)
        assert found["accelerators"] == [{"type": found["accelerators"][0]["type"], "count": 1}]
        assert str(found["accelerators"][0]["type"]).startswith("nvidia-")
