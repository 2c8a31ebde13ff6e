"""Minimal CRDs the emulator's simulations act on, and helpers that install them.

`install_capi_crds` registers Cluster API's `Cluster` (v1beta1 and v1beta2) in a management
cluster; `install_gpu_operator_crds` registers the GPU operator's `ClusterPolicy` in a workload
cluster (a real GPU operator chart ships it too). The YAML files sit beside this module.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from function.testing.cluster import EmulatedCluster


def manifest(name: str) -> str:
    """The text of one bundled CRD file (``cluster-api.yaml``, ``gpu-operator.yaml``)."""
    return resources.files(__package__).joinpath(name).read_text()


def install_capi_crds(cluster: EmulatedCluster) -> list[dict[str, Any]]:
    """Register Cluster API's `Cluster` CRD in a cluster; returns the stored CRDs."""
    return cluster.apply_manifests(manifest("cluster-api.yaml"), field_manager="clusterctl")


def install_gpu_operator_crds(cluster: EmulatedCluster) -> list[dict[str, Any]]:
    """Register the GPU operator's `ClusterPolicy` CRD in a cluster; returns the stored CRDs."""
    return cluster.apply_manifests(manifest("gpu-operator.yaml"), field_manager="helm")
