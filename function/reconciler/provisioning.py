"""Clusters the placement controller provisions for its deployments: made, waited for, reclaimed.

A deployment that fits nowhere with ``onNoCapacity: Provision`` gets one AIInferenceCluster
(`function.placement.provision` composes its manifest), applied once. While replicas wait for
it, `Provisioner.wait` reads where it stands from the store (the XR, the Cluster API Cluster it
composed) for the deployment's status (`function.reconciler.deploymentstatus.provision_wait`).
With ``reclaimProvisioned: true`` it is deleted when no placement needs it any more: the
deployment expired, was deleted, or was placed whole on other clusters before it was ready;
never while another deployment is placed on it. The placement controller
(`function.reconciler.deployments`) decides when; this module does the writes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from function.errors import NotFoundError
from function.kube.client import KubeClient
from function.model.deployment import PROVISION_TIMEOUT, AIModelDeploymentSpec
from function.model.objects import Object, meta
from function.model.xr import GpuProduct
from function.placement.decide import Decision
from function.placement.delivery import DEPLOYMENT_LABEL
from function.placement.ledger import Placed
from function.placement.provision import XR_API_VERSION, XR_KIND, provision_cluster
from function.reconciler.deploymentstatus import ProvisionWait, provision_wait
from function.reconciler.events import EventRecorder
from function.reconciler.keys import TriggerKey
from function.reconciler.readiness import CAPI_GROUP
from function.reconciler.store import GroupKind, Store

log = logging.getLogger(__name__)

FIELD_MANAGER = "aifleet-placement"
RECLAIM_LABEL = "aifleet.io/reclaim"
XR = GroupKind("aifleet.io", XR_KIND)
CAPI_CLUSTER = GroupKind(CAPI_GROUP, "Cluster")


class Provisioner:
    """Makes, reads and deletes the AIInferenceClusters provisioned for deployments."""

    def __init__(
        self,
        mgmt: KubeClient,
        store: Store,
        events: EventRecorder,
        costs: Mapping[GpuProduct, float] | None,
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._events = events
        self._costs = costs

    async def provision(
        self,
        key: TriggerKey,
        obj: Object,
        spec: AIModelDeploymentSpec,
        decision: Decision,
        provisioned: str | None,
    ) -> str:
        """Compose an AIInferenceCluster for what does not fit (once); its namespace/name."""
        wanted = provision_cluster(
            str(key), spec, self._costs, replicas=spec.replicas - decision.placed
        )
        name = str(wanted["metadata"]["name"])
        if self._store.get(XR, key.namespace, name) is None and provisioned is None:
            if spec.reclaim_provisioned:
                wanted["metadata"]["labels"][RECLAIM_LABEL] = "true"
            log.info("AIModelDeployment %s: provisioning AIInferenceCluster %s", key, name)
            await self._mgmt.apply(wanted, field_manager=FIELD_MANAGER, force=True)
            await self._events.record(
                obj,
                reason="Provisioning",
                message=f"{decision.message}; provisioning "
                f"AIInferenceCluster {key.namespace}/{name} in {wanted['spec']['region']} with "
                f"{wanted['spec']['gpu']['minNodes']} {wanted['spec']['gpu']['product']} node(s)",
            )
        return f"{key.namespace}/{name}"

    def cluster_of(self, provisioned: str) -> str:
        """namespace/name of the Cluster API Cluster the AIInferenceCluster composed."""
        namespace, name = provisioned.split("/", 1)
        xr = self._store.get(XR, namespace, name)
        ref = ((xr or {}).get("status") or {}).get("cluster") or {}
        return f"{ref.get('namespace') or namespace}/{ref.get('name') or name}"

    def wait(
        self, spec: AIModelDeploymentSpec, provisioned: str, decision: Decision, now: datetime
    ) -> ProvisionWait:
        """Where the cluster provisioned for the deployment stands, read from the store."""
        namespace, name = provisioned.split("/", 1)
        xr = self._store.get(XR, namespace, name)
        cluster_namespace, cluster_name = self.cluster_of(provisioned).split("/", 1)
        cluster = self._store.get(CAPI_CLUSTER, cluster_namespace, cluster_name)
        timeout = spec.provision.timeout if spec.provision else PROVISION_TIMEOUT
        return provision_wait(provisioned, xr, cluster, decision.verdicts, timeout=timeout, now=now)

    def needed(self, provisioned: str, decision: Decision) -> bool:
        """Whether the deployment still needs its provisioned cluster: replicas wait for it,
        or run there."""
        cluster = self.cluster_of(provisioned)
        return not decision.complete or any(a.cluster == cluster for a in decision.assignments)

    async def reclaim(self, key: TriggerKey, provisioned: str, placed: Iterable[Placed]) -> bool:
        """Delete the cluster provisioned for the deployment unless another one is placed on
        it; whether it was deleted."""
        cluster = self.cluster_of(provisioned)
        for other in placed:
            if other.deployment != str(key) and any(
                p.cluster == cluster for p in other.status.placements
            ):
                log.info(
                    "AIModelDeployment %s: %s still serves %s", key, provisioned, other.deployment
                )
                return False
        log.info("AIModelDeployment %s: reclaiming AIInferenceCluster %s", key, provisioned)
        namespace, name = provisioned.split("/", 1)
        with contextlib.suppress(NotFoundError):
            await self._mgmt.delete(XR_API_VERSION, XR_KIND, name, namespace)
        return True

    def reclaimable(self, key: TriggerKey) -> list[str]:
        """namespace/name of the AIInferenceClusters provisioned for the deployment with
        ``reclaimProvisioned``, as their labels say."""
        out = []
        for xr in self._store.list(XR, key.namespace):
            labels = meta(xr).get("labels") or {}
            if labels.get(DEPLOYMENT_LABEL) == key.name and labels.get(RECLAIM_LABEL) == "true":
                out.append(f"{key.namespace}/{meta(xr)['name']}")
        return out
