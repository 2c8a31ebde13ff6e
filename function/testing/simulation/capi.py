"""Simulated Cluster API provisioning: a `Cluster` becomes a live workload cluster.

Four separately switchable steps, each reacting to writes of `cluster.x-k8s.io` `Cluster`
objects (served as v1beta1 and v1beta2; one stored object, so the status carries the fields of
both versions) and doing nothing while the Cluster is paused (`spec.paused` or the
`cluster.x-k8s.io/paused` annotation):

1. ``capi-infrastructure``: adds the `cluster.cluster.x-k8s.io` finalizer; infrastructure is
   provisioned (`initialization.infrastructureProvisioned`, `infrastructureReady`,
   `InfrastructureReady`), phase `Provisioning`.
2. ``capi-control-plane``: creates the workload cluster in the same fleet (named
   ``<management cluster>/<namespace>/<name>``), writes the `<name>-kubeconfig` Secret (type
   `cluster.x-k8s.io/secret`, label `cluster.x-k8s.io/cluster-name`, key `value`, owned by the
   Cluster) and reports the control plane initialized and available
   (`initialization.controlPlaneInitialized`, `controlPlaneReady`, `ControlPlaneInitialized`,
   `ControlPlaneAvailable`, `RemoteConnectionProbe`), phase `Provisioned`.
3. ``capi-workers``: creates one Node per replica of each
   `spec.topology.workers.machineDeployments[]` in the workload cluster (an unset ``replicas``
   defaulted from the autoscaler's min-size annotation, as Cluster API does) and deletes
   surplus ones, then reports `WorkersAvailable`, `Available` and v1beta1 `Ready`. A
   machineDeployment whose annotations carry
   `capacity.cluster-autoscaler.kubernetes.io/gpu-count` (and `gpu-type`, and a
   `nvidia.com/gpu.product` in `.../labels`) yields GPU nodes, which `extensions.GpuDevicePlugin`
   equips once the workload cluster's ClusterPolicy is ready.
4. ``capi-deletion``: a deleting Cluster goes `Deleting`, its workload cluster goes offline for
   good, and the finalizer is removed so the Cluster (and, by garbage collection, its
   kubeconfig Secret) disappears.

Field manager: `capi-controller-manager`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from function.testing.resources import ResourceType
from function.testing.simulation.capi_status import (
    FINALIZER,
    INFRASTRUCTURE,
    PROVISIONED,
    READY,
    cluster_status,
    desired_nodes,
    is_paused,
    stage,
)
from function.testing.simulation.conditions import deleting
from function.testing.simulation.engine import (
    lookup,
    merge_metadata,
    objects_of,
    ref_of,
    write_status,
)
from function.testing.store import Event, ObjectRef, Stored
from function.testing.targets import DeleteOptions, WriteOptions

if TYPE_CHECKING:
    from function.testing.apiserver import ApiServer
    from function.testing.cluster import EmulatedCluster
    from function.testing.simulation.engine import RuleContext

GROUP = "cluster.x-k8s.io"
MANAGER = "capi-controller-manager"


def workload_cluster_name(management: str, namespace: str, name: str) -> str:
    """The fleet name of the workload cluster a Cluster object provisions."""
    return f"{management}/{namespace}/{name}"


class _ClusterStep:
    """One provisioning step over `Cluster` objects."""

    name = ""
    on_deleting = False

    def targets(
        self, api: ApiServer, resource_type: ResourceType, event: Event
    ) -> Iterable[ObjectRef]:
        """The Cluster written (deleting ones only for the deletion step)."""
        if event.type == "DELETED" or (resource_type.group, resource_type.kind) != (
            GROUP,
            "Cluster",
        ):
            return []
        if deleting(event.obj.obj) != self.on_deleting:
            return []
        return [ref_of(resource_type, event.obj)]

    def resync(self, api: ApiServer) -> Iterable[ObjectRef]:
        """Every Cluster in the step's phase of life."""
        return [
            ref_of(t, s)
            for t, s in objects_of(api, GROUP, "Cluster")
            if deleting(s.obj) == self.on_deleting
        ]

    async def reconcile(self, context: RuleContext, ref: ObjectRef) -> None:
        """Run the step on the Cluster as it is now."""
        found = lookup(context.api, ref)
        if found is None or is_paused(found[1].obj) or deleting(found[1].obj) != self.on_deleting:
            return
        await self.step(context, *found)

    async def step(
        self, context: RuleContext, resource_type: ResourceType, cluster: Stored
    ) -> None:
        """The step itself."""
        raise NotImplementedError


class Infrastructure(_ClusterStep):
    """Step 1: finalizer, infrastructure provisioned."""

    name = "capi-infrastructure"

    async def step(
        self, context: RuleContext, resource_type: ResourceType, cluster: Stored
    ) -> None:
        """Add the finalizer and report the infrastructure ready."""
        finalizers = cluster.obj["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            patch = {"finalizers": [*finalizers, FINALIZER]}
            cluster = merge_metadata(context.api, resource_type, cluster, patch, MANAGER)
        if stage(cluster.obj) < INFRASTRUCTURE:
            status = cluster_status(cluster.obj, INFRASTRUCTURE)
            write_status(context.api, resource_type, cluster, status, MANAGER)


class ControlPlane(_ClusterStep):
    """Step 2: a workload cluster, its kubeconfig Secret, control plane initialized."""

    name = "capi-control-plane"

    async def step(
        self, context: RuleContext, resource_type: ResourceType, cluster: Stored
    ) -> None:
        """Bring the workload cluster up and publish its kubeconfig."""
        if stage(cluster.obj) < INFRASTRUCTURE:
            return
        workload = await self._workload(context, cluster)
        self._kubeconfig_secret(context.api, resource_type, cluster, workload)
        if stage(cluster.obj) < PROVISIONED:
            status = cluster_status(cluster.obj, PROVISIONED)
            write_status(context.api, resource_type, cluster, status, MANAGER)

    async def _workload(self, context: RuleContext, cluster: Stored) -> EmulatedCluster:
        fleet = context.fleet
        name = workload_cluster_name(context.cluster_name, cluster.namespace, cluster.name)
        if name in fleet:
            if not fleet[name].decommissioned:
                return fleet[name]
            fleet.forget_cluster_on_loop(name)
        return await fleet.add_cluster_on_loop(name)

    def _kubeconfig_secret(
        self,
        api: ApiServer,
        resource_type: ResourceType,
        cluster: Stored,
        workload: EmulatedCluster,
    ) -> None:
        name = f"{cluster.name}-kubeconfig"
        value = base64.b64encode(workload.kubeconfig_yaml(cluster.name).encode()).decode()
        target = api.target("v1", "Secret", cluster.namespace, name)
        existing = api.find(target)
        if existing is not None and (existing.obj.get("data") or {}).get("value") == value:
            return
        owner = {
            "apiVersion": cluster.obj["apiVersion"],
            "kind": "Cluster",
            "name": cluster.name,
            "uid": cluster.obj["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        secret: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": cluster.namespace,
                "labels": {"cluster.x-k8s.io/cluster-name": cluster.name},
                "ownerReferences": [owner],
            },
            "type": "cluster.x-k8s.io/secret",
            "data": {"value": value},
        }
        if existing is None:
            api.create(target, secret, WriteOptions(MANAGER))
        else:
            secret["metadata"]["resourceVersion"] = str(existing.rv)
            api.update(target, secret, WriteOptions(MANAGER))


class Workers(_ClusterStep):
    """Step 3: worker Nodes in the workload cluster, the Cluster available."""

    name = "capi-workers"

    async def step(
        self, context: RuleContext, resource_type: ResourceType, cluster: Stored
    ) -> None:
        """Reconcile the workload cluster's Nodes and report the workers available."""
        if stage(cluster.obj) < PROVISIONED:
            return
        name = workload_cluster_name(context.cluster_name, cluster.namespace, cluster.name)
        if name not in context.fleet or context.fleet[name].decommissioned:
            return
        nodes = desired_nodes(cluster.obj)
        self._reconcile_nodes(context.fleet[name].api, cluster, nodes)
        status = cluster_status(cluster.obj, READY, workers=len(nodes))
        write_status(context.api, resource_type, cluster, status, MANAGER)

    def _reconcile_nodes(
        self, api: ApiServer, cluster: Stored, nodes: list[dict[str, Any]]
    ) -> None:
        wanted = {node["metadata"]["name"]: node for node in nodes}
        for _, node in objects_of(api, "", "Node"):
            annotations = node.obj["metadata"].get("annotations") or {}
            ours = annotations.get("cluster.x-k8s.io/cluster-name") == cluster.name
            if ours and node.name not in wanted:
                api.delete(api.target("v1", "Node", None, node.name), DeleteOptions(MANAGER))
            wanted.pop(node.name, None)
        for name, body in wanted.items():
            api.create(api.target("v1", "Node", None, name), body, WriteOptions("kubelet"))


class Deletion(_ClusterStep):
    """Step 4: a deleting Cluster takes its workload cluster down and goes away."""

    name = "capi-deletion"
    on_deleting = True

    async def step(
        self, context: RuleContext, resource_type: ResourceType, cluster: Stored
    ) -> None:
        """Decommission the workload cluster, then drop the finalizer."""
        if (cluster.obj.get("status") or {}).get("phase") != "Deleting":
            status = {**(cluster.obj.get("status") or {}), "phase": "Deleting"}
            cluster = write_status(context.api, resource_type, cluster, status, MANAGER)
        name = workload_cluster_name(context.cluster_name, cluster.namespace, cluster.name)
        if name in context.fleet:
            workload = context.fleet[name]
            workload.decommissioned = True
            workload.server.stop()
        finalizers = [f for f in cluster.obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        if len(finalizers) != len(cluster.obj["metadata"].get("finalizers") or []):
            patch = {"finalizers": finalizers or None}
            merge_metadata(context.api, resource_type, cluster, patch, MANAGER)


def capi_rules() -> list[_ClusterStep]:
    """The Cluster API steps, in order."""
    return [Infrastructure(), ControlPlane(), Workers(), Deletion()]
