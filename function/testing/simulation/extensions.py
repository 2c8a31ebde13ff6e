"""Simulated controllers of extension APIs: CRDs, the GPU operator, Crossplane, other operators.

* ``crd-established``: the apiextensions controller accepts a CRD's names (`NamesAccepted`,
  `Established`, `acceptedNames`, `storedVersions`). Field manager `kube-apiserver`.
* ``clusterpolicy-ready``: the NVIDIA GPU operator reports its `nvidia.com/v1` `ClusterPolicy`
  `status.state: ready`. Field manager `gpu-operator`.
* ``gpu-device-plugin``: once a ClusterPolicy in the cluster is ready, Nodes annotated with
  `emulator.aifleet.io/gpu-count` (and `-gpu-product`) get GPU feature discovery labels
  (`nvidia.com/gpu.present`, `.product` (default `NVIDIA-H100-80GB-HBM3`), `.count`, and
  `.memory` in MiB for the products in `GPU_MEMORY_MIB`) and `nvidia.com/gpu` capacity and
  allocatable, as the device plugin and GFD would. Field managers `gpu-feature-discovery`,
  `kubelet`.
* ``managed-resource-ready``: a Crossplane provider reports every managed resource (any custom
  resource with `spec.forProvider`) `Ready=True` and `Synced=True`. Field manager
  `crossplane-provider`.
* ``custom-resource-ready``: any other custom resource (KServe `InferenceService`, KubeAI
  `Model`, ...) gets a `Ready=True` condition, except groups whose controllers matter to the
  tests themselves (`EXCLUDED_GROUPS`: this project's groups, Crossplane, Cluster API, Sveltos).
  Field manager `operator`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from function.testing.resources import ResourceType
from function.testing.simulation.conditions import KindRule, deleting, set_condition
from function.testing.simulation.engine import (
    lookup,
    merge_metadata,
    objects_of,
    ref_of,
    write_status,
)
from function.testing.store import Event, ObjectRef, Stored

if TYPE_CHECKING:
    from function.testing.apiserver import ApiServer
    from function.testing.simulation.engine import RuleContext

GPU_COUNT = "emulator.aifleet.io/gpu-count"
GPU_PRODUCT = "emulator.aifleet.io/gpu-product"
GPU_RESOURCE = "emulator.aifleet.io/gpu-resource"
EXCLUDED_GROUPS = ("aifleet.io", "crossplane.io", "cluster.x-k8s.io", "projectsveltos.io")
DEFAULT_PRODUCT = "NVIDIA-H100-80GB-HBM3"
# What GFD reports as `nvidia.com/gpu.memory` (MiB), by a distinctive part of the product name;
# more specific names first (L40S before L4).
GPU_MEMORY_MIB = (
    ("H200", 143771),
    ("H100", 81559),
    ("A100-SXM4-80GB", 81920),
    ("A100-PCIE-80GB", 81920),
    ("A100", 40960),
    ("L40S", 46068),
    ("A10G", 23028),
    ("L4", 23034),
    ("T4", 15360),
)


def gpu_memory_mib(product: str) -> int | None:
    """GFD's `nvidia.com/gpu.memory` for a product, when the emulator knows it."""
    return next((mib for part, mib in GPU_MEMORY_MIB if part in product), None)


class CrdEstablished(KindRule):
    """CRDs get their names accepted and become Established."""

    name = "crd-established"
    group = "apiextensions.k8s.io"
    kind = "CustomResourceDefinition"
    manager = "kube-apiserver"

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """Accepted names, both conditions true, the storage version stored."""
        spec = obj["spec"]
        names = dict(spec["names"])
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
        current = obj.get("status") or {}
        conditions = set_condition(
            current.get("conditions"), "NamesAccepted", True, "NoConflicts", "no conflicts found"
        )
        conditions = set_condition(
            conditions,
            "Established",
            True,
            "InitialNamesAccepted",
            "the initial names have been accepted",
        )
        stored = list(current.get("storedVersions") or [])
        for version in spec.get("versions") or []:
            if version.get("storage") and version["name"] not in stored:
                stored.append(version["name"])
        return {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}


class ClusterPolicyReady(KindRule):
    """The GPU operator reports its ClusterPolicy ready."""

    name = "clusterpolicy-ready"
    group = "nvidia.com"
    kind = "ClusterPolicy"
    manager = "gpu-operator"

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """`state: ready` and a Ready condition."""
        current = obj.get("status") or {}
        conditions = set_condition(
            current.get("conditions"),
            "Ready",
            True,
            "Reconciled",
            "ClusterPolicy is ready as all resources have been successfully reconciled",
        )
        conditions = set_condition(conditions, "Error", False, "Ready", "")
        namespace = current.get("namespace", "gpu-operator")
        return {"state": "ready", "namespace": namespace, "conditions": conditions}


class _CustomResourceRule(KindRule):
    """Rules over custom resources of any kind."""

    def handles(self, resource_type: ResourceType, obj: dict[str, Any]) -> bool:
        """Custom resources only."""
        return not resource_type.builtin

    def candidates(self, api: ApiServer) -> Iterable[tuple[ResourceType, Any]]:
        """Every custom resource."""
        for resources in api.store.resources.values():
            if not resources.resource_type.builtin:
                for stored in resources.objects.values():
                    yield resources.resource_type, stored


def _is_managed_resource(obj: dict[str, Any]) -> bool:
    return isinstance((obj.get("spec") or {}).get("forProvider"), dict)


class ManagedResourceReady(_CustomResourceRule):
    """Crossplane managed resources become Ready and Synced."""

    name = "managed-resource-ready"
    manager = "crossplane-provider"

    def handles(self, resource_type: ResourceType, obj: dict[str, Any]) -> bool:
        """Custom resources with `spec.forProvider`."""
        return super().handles(resource_type, obj) and _is_managed_resource(obj)

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """`Ready=True` (Available) and `Synced=True` (ReconcileSuccess)."""
        current = dict(obj.get("status") or {})
        conditions = set_condition(current.get("conditions"), "Ready", True, "Available")
        conditions = set_condition(conditions, "Synced", True, "ReconcileSuccess")
        current.setdefault("atProvider", {})
        return {**current, "conditions": conditions}


class CustomResourceReady(_CustomResourceRule):
    """Other operators report their custom resources Ready."""

    name = "custom-resource-ready"
    manager = "operator"

    def handles(self, resource_type: ResourceType, obj: dict[str, Any]) -> bool:
        """Custom resources outside `EXCLUDED_GROUPS` that no other rule handles."""
        group = resource_type.group
        excluded = any(group == g or group.endswith("." + g) for g in EXCLUDED_GROUPS)
        return (
            super().handles(resource_type, obj)
            and not excluded
            and not _is_managed_resource(obj)
            and (group, resource_type.kind) != ("nvidia.com", "ClusterPolicy")
        )

    def desired_status(self, api: ApiServer, obj: dict[str, Any]) -> dict[str, Any]:
        """A `Ready=True` condition and the observed generation."""
        current = dict(obj.get("status") or {})
        current["conditions"] = set_condition(current.get("conditions"), "Ready", True, "Ready")
        current["observedGeneration"] = int(obj["metadata"].get("generation", 1))
        return current


def _gpu_count(node: dict[str, Any]) -> int:
    try:
        return int(node["metadata"].get("annotations", {}).get(GPU_COUNT, "0"))
    except ValueError:
        return 0


class GpuDevicePlugin:
    """GPU nodes advertise GPUs once the GPU operator's ClusterPolicy is ready."""

    name = "gpu-device-plugin"

    def targets(
        self, api: ApiServer, resource_type: ResourceType, event: Event
    ) -> Iterable[ObjectRef]:
        """A GPU node written, or every GPU node when a ClusterPolicy changes."""
        if (resource_type.group, resource_type.kind) == ("nvidia.com", "ClusterPolicy"):
            return list(self.resync(api))
        is_node = resource_type.key == ("", "nodes") and event.type != "DELETED"
        if is_node and _gpu_count(event.obj.obj):
            return [ref_of(resource_type, event.obj)]
        return []

    def resync(self, api: ApiServer) -> Iterable[ObjectRef]:
        """Every GPU node."""
        return [ref_of(t, node) for t, node in objects_of(api, "", "Node") if _gpu_count(node.obj)]

    async def reconcile(self, context: RuleContext, ref: ObjectRef) -> None:
        """Label the node and publish its GPU capacity."""
        api = context.api
        if not any(
            (p.obj.get("status") or {}).get("state") == "ready"
            for _, p in objects_of(api, "nvidia.com", "ClusterPolicy")
        ):
            return
        found = lookup(api, ref)
        if found is None or deleting(found[1].obj):
            return
        resource_type, node = found
        node = self._label(api, resource_type, node)
        self._advertise(api, resource_type, node)

    def _label(self, api: ApiServer, resource_type: ResourceType, node: Stored) -> Stored:
        annotations = node.obj["metadata"].get("annotations", {})
        product = annotations.get(GPU_PRODUCT, DEFAULT_PRODUCT)
        wanted = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.count": str(_gpu_count(node.obj)),
            "nvidia.com/gpu.product": product,
        }
        memory = gpu_memory_mib(product)
        if memory is not None:
            wanted["nvidia.com/gpu.memory"] = str(memory)
        if all(node.labels.get(k) == v for k, v in wanted.items()):
            return node
        return merge_metadata(api, resource_type, node, {"labels": wanted}, "gpu-feature-discovery")

    def _advertise(self, api: ApiServer, resource_type: ResourceType, node: Stored) -> None:
        resource = node.obj["metadata"].get("annotations", {}).get(GPU_RESOURCE, "nvidia.com/gpu")
        count = str(_gpu_count(node.obj))
        status = dict(node.obj.get("status") or {})
        capacity = {**(status.get("capacity") or {}), resource: count}
        allocatable = {**(status.get("allocatable") or {}), resource: count}
        write_status(
            api,
            resource_type,
            node,
            {**status, "capacity": capacity, "allocatable": allocatable},
            "kubelet",
        )


def extension_rules() -> list[Any]:
    """The extension rules, in a fixed order."""
    return [
        CrdEstablished(),
        ClusterPolicyReady(),
        GpuDevicePlugin(),
        ManagedResourceReady(),
        CustomResourceReady(),
    ]
