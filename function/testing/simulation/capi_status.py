"""Pure shapes of simulated Cluster API state: a Cluster's status per stage, its worker Nodes.

`cluster_status` renders what CAPI's cluster controller publishes at each stage, with the
fields of v1beta2 (`initialization.*`, metav1 conditions `InfrastructureReady`,
`ControlPlaneInitialized`, `ControlPlaneAvailable`, `RemoteConnectionProbe`, `WorkersAvailable`,
`TopologyReconciled`, `Available`, `controlPlane`/`workers` counters) and of v1beta1
(`infrastructureReady`, `controlPlaneReady`, conditions `Ready`, `ControlPlaneReady`) side by
side, since the emulator stores one object for both versions. `desired_nodes` turns a
topology's machineDeployments into the Node objects kubelets would register, defaulting an
unset ``replicas`` as Cluster API's MachineDeployment webhook does for a new one: the
autoscaler's min-size annotation when both node-group bounds are set, otherwise 1. `capi`
writes them.
"""

from __future__ import annotations

from typing import Any

from function.testing.simulation.conditions import condition_true, set_condition
from function.testing.simulation.extensions import GPU_COUNT, GPU_PRODUCT, GPU_RESOURCE

FINALIZER = "cluster.cluster.x-k8s.io"
PAUSED_ANNOTATION = "cluster.x-k8s.io/paused"
AUTOSCALER = "capacity.cluster-autoscaler.kubernetes.io/"
NODE_GROUP_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
NODE_GROUP_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
SYNCED_LABEL_DOMAINS = ("node-restriction.kubernetes.io", "node.cluster.x-k8s.io")

PENDING, INFRASTRUCTURE, PROVISIONED, READY = range(4)


def is_paused(cluster: dict[str, Any]) -> bool:
    """Whether CAPI would leave the Cluster alone (`spec.paused` or the paused annotation)."""
    annotations = cluster["metadata"].get("annotations") or {}
    return bool((cluster.get("spec") or {}).get("paused")) or PAUSED_ANNOTATION in annotations


def stage(cluster: dict[str, Any]) -> int:
    """How far provisioning got, read back from the status."""
    status = cluster.get("status") or {}
    initialization = status.get("initialization") or {}
    if condition_true(cluster, "Available"):
        return READY
    if initialization.get("controlPlaneInitialized"):
        return PROVISIONED
    if initialization.get("infrastructureProvisioned"):
        return INFRASTRUCTURE
    return PENDING


def _counters(replicas: int) -> dict[str, int]:
    return {
        "desiredReplicas": replicas,
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "upToDateReplicas": replicas,
    }


def cluster_status(cluster: dict[str, Any], at: int, *, workers: int = 0) -> dict[str, Any]:
    """The status of a Cluster provisioned up to stage ``at`` (with ``workers`` Nodes)."""
    current = dict(cluster.get("status") or {})
    generation = int(cluster["metadata"].get("generation", 1))
    spec = cluster.get("spec") or {}
    infrastructure, control_plane, ready = at >= INFRASTRUCTURE, at >= PROVISIONED, at >= READY
    conditions = current.get("conditions")
    table = [
        ("InfrastructureReady", infrastructure, "Ready", "NotReady"),
        ("ControlPlaneInitialized", control_plane, "Initialized", "NotInitialized"),
        ("ControlPlaneAvailable", control_plane, "Available", "NotAvailable"),
        ("ControlPlaneReady", control_plane, "Ready", "NotReady"),
        ("RemoteConnectionProbe", control_plane, "ProbeSucceeded", "ProbeFailed"),
        ("WorkersAvailable", ready, "Available" if workers else "NoWorkers", "NotAvailable"),
        ("Available", ready, "Available", "NotAvailable"),
        ("Ready", ready, "Ready", "NotReady"),
    ]
    if spec.get("topology") is not None:
        table.append(("TopologyReconciled", infrastructure, "ReconcileSucceeded", "Pending"))
    for type_, ok, if_true, if_false in table:
        reason = if_true if ok else if_false
        conditions = set_condition(conditions, type_, ok, reason, observedGeneration=generation)
    status = {
        **current,
        "observedGeneration": generation,
        "phase": "Provisioned" if control_plane else "Provisioning",
        "infrastructureReady": infrastructure,
        "controlPlaneReady": control_plane,
        "conditions": conditions,
    }
    initialization = {"infrastructureProvisioned": True} if infrastructure else {}
    if control_plane:
        initialization["controlPlaneInitialized"] = True
        topology = spec.get("topology") or {}
        status["controlPlane"] = _counters(
            int((topology.get("controlPlane") or {}).get("replicas", 1))
        )
    if initialization:
        status["initialization"] = initialization
    if ready:
        status["workers"] = _counters(workers)
    return status


def _synced(key: str) -> bool:
    domain = key.split("/", 1)[0] if "/" in key else ""
    return domain.startswith("node-role.kubernetes.io") or any(
        domain == d or domain.endswith("." + d) for d in SYNCED_LABEL_DOMAINS
    )


def _parse_labels(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def _replicas(replicas: Any, annotations: dict[str, Any]) -> int:
    """A machineDeployment's replicas, defaulted as Cluster API does for a new one."""
    if replicas is not None:
        return int(replicas)
    if NODE_GROUP_MIN in annotations and NODE_GROUP_MAX in annotations:
        return int(annotations[NODE_GROUP_MIN])
    return 1


def desired_nodes(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Nodes the topology's machineDeployments register, in order."""
    topology = (cluster.get("spec") or {}).get("topology") or {}
    version = topology.get("version", "v1.33.0")
    name = cluster["metadata"]["name"]
    nodes: list[dict[str, Any]] = []
    for deployment in (topology.get("workers") or {}).get("machineDeployments") or []:
        metadata = deployment.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        template_labels = _parse_labels(annotations.get(AUTOSCALER + "labels", ""))
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if _synced(k)}
        labels.update({k: v for k, v in template_labels.items() if not k.startswith("nvidia.com/")})
        hardware: dict[str, str] = {}
        if AUTOSCALER + "gpu-count" in annotations:
            hardware[GPU_COUNT] = str(annotations[AUTOSCALER + "gpu-count"])
            hardware[GPU_RESOURCE] = annotations.get(AUTOSCALER + "gpu-type", "nvidia.com/gpu")
            if "nvidia.com/gpu.product" in template_labels:
                hardware[GPU_PRODUCT] = template_labels["nvidia.com/gpu.product"]
        capacity = {
            "cpu": str(annotations.get(AUTOSCALER + "cpu", "8")),
            "memory": str(annotations.get(AUTOSCALER + "memory", "32Gi")),
            "pods": str(annotations.get(AUTOSCALER + "maxPods", "110")),
        }
        for index in range(_replicas(deployment.get("replicas"), annotations)):
            node_name = f"{name}-{deployment['name']}-{index}"
            nodes.append(
                _node(
                    node_name,
                    len(nodes),
                    cluster,
                    deployment["name"],
                    labels,
                    hardware,
                    capacity,
                    version,
                )
            )
    return nodes


def _node(
    node_name: str,
    number: int,
    cluster: dict[str, Any],
    deployment: str,
    labels: dict[str, str],
    hardware: dict[str, str],
    capacity: dict[str, str],
    version: str,
) -> dict[str, Any]:
    name, namespace = cluster["metadata"]["name"], cluster["metadata"].get("namespace", "")
    address = f"10.0.{number // 250}.{number % 250 + 2}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": {
                "kubernetes.io/hostname": node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **labels,
            },
            "annotations": {
                "cluster.x-k8s.io/cluster-name": name,
                "cluster.x-k8s.io/cluster-namespace": namespace,
                "cluster.x-k8s.io/machine": node_name,
                "cluster.x-k8s.io/owner-kind": "MachineSet",
                "cluster.x-k8s.io/owner-name": f"{name}-{deployment}",
                **hardware,
            },
        },
        "spec": {"providerID": f"emulator:///{namespace}/{name}/{node_name}"},
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": cluster["metadata"].get("creationTimestamp"),
                    "lastTransitionTime": cluster["metadata"].get("creationTimestamp"),
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": node_name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": node_name,
                "containerRuntimeVersion": "containerd://2.0.0",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": version,
                "kubeletVersion": version,
                "machineID": node_name,
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04 LTS",
                "systemUUID": node_name,
            },
        },
    }
