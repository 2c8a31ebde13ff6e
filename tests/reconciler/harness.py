"""A management cluster and its fleet on the emulator, with the reconciler running against it.

The reconciler is the real `ReconcilerApp` on the real `kubernetes` client over HTTP; only the
API server is the emulator. Tests create Cluster API Clusters and AddonBundles in the
management cluster and assert what lands in the workload clusters the simulation provisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from function.kube.adapter import ApiAdapter, configuration_from_kubeconfig
from function.reconciler.app import ReconcilerApp, Settings, utc_now
from function.reconciler.deployments import DEPLOYMENT
from function.reconciler.inputs import SECRET
from function.reconciler.provisioning import XR
from function.reconciler.store import slim
from function.reconciler.targets import BUNDLE, CAPI_CLUSTER
from function.reconciler.timing import Timing
from function.reconciler.triggers import SOURCE, TRIGGER
from function.testing import EmulatedCluster, Fleet, install_capi_crds, workload_cluster_name
from function.testing.crossplane import crd_from_xrd

REPO = Path(__file__).resolve().parents[2]
BUNDLE_API = "addons.aifleet.io/v1alpha1"
CAPI = "cluster.x-k8s.io/v1beta2"
NAMESPACE = "team-a"
INSTALL_RBAC = REPO / "examples" / "install" / "rbac.yaml"
SECRET_RBAC = {
    "cluster-wide": REPO / "examples" / "install" / "rbac-secrets.yaml",
    "secret-namespaces": REPO / "examples" / "install" / "secret-namespaces" / "rbac-secrets.yaml",
}
"""The two forms of the install's Secret reads: a ClusterRole, or a Role per namespace."""
INSTALL_SERVICE_ACCOUNT = "crossplane-system/function-aifleet"
GPU_ANNOTATIONS = {
    "capacity.cluster-autoscaler.kubernetes.io/gpu-count": "2",
    "capacity.cluster-autoscaler.kubernetes.io/gpu-type": "nvidia.com/gpu",
}

Obj = dict[str, Any]
STORED_KINDS = (BUNDLE, CAPI_CLUSTER, SECRET, XR, DEPLOYMENT, TRIGGER, SOURCE)
"""The kinds of the management cluster the reconciler's store holds."""


def capi_cluster(name: str, *, gpu_nodes: int = 1, labels: dict[str, str] | None = None) -> Obj:
    """A Cluster API v1beta2 Cluster with one CPU and one GPU machineDeployment."""
    return {
        "apiVersion": CAPI,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "spec": {
            "topology": {
                "classRef": {"name": "gpu-cluster"},
                "version": "v1.33.0",
                "controlPlane": {"replicas": 1},
                "workers": {
                    "machineDeployments": [
                        {"class": "cpu-worker", "name": "cpu", "replicas": 1},
                        {
                            "class": "gpu-worker",
                            "name": "gpu",
                            "replicas": gpu_nodes,
                            "metadata": {"annotations": GPU_ANNOTATIONS},
                        },
                    ]
                },
            }
        },
    }


def bundle(name: str, addons: list[Obj], **spec: Any) -> Obj:
    """An AddonBundle in the test namespace, in Continuous mode unless ``syncMode`` says:
    most tests follow applies, and drift watching is tested where it is asked for."""
    body: Obj = {"syncMode": "Continuous", "addons": addons, **spec}
    body.setdefault("clusterRef", {"apiVersion": CAPI, "kind": "Cluster", "name": "c1"})
    return {
        "apiVersion": BUNDLE_API,
        "kind": "AddonBundle",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": body,
    }


def configmap_addon(name: str, *deps: str, data: str = "v1", **extra: Any) -> Obj:
    """An add-on of one templated ConfigMap in namespace ``apps``."""
    manifests = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {name}\ndata:\n  value: {data}\n"
        "  cluster: '{{ cluster.metadata.name }}'\n"
    )
    return {
        "name": name,
        "dependsOn": list(deps),
        "namespace": "apps",
        "manifests": manifests,
        **extra,
    }


@dataclass
class Harness:
    """The fleet, its management cluster and the running reconciler."""

    fleet: Fleet
    mgmt: EmulatedCluster
    settings: Settings
    app: ReconcilerApp | None = None
    service_account: str | None = None
    """``<namespace>/<name>`` the reconciler authenticates as (None: the cluster's admin)."""
    clock: Callable[[], str] = utc_now
    """The reconciler's clock (a test moves it forward to expire a ttl)."""
    _task: asyncio.Task[None] | None = None
    _adapter: ApiAdapter | None = None

    async def start(self) -> ReconcilerApp:
        """Start a reconciler (a fresh process, as far as it can tell)."""
        kubeconfig = self.mgmt.kubeconfig(service_account=self.service_account)
        self._adapter = ApiAdapter(configuration_from_kubeconfig(kubeconfig))
        self.app = ReconcilerApp(self.settings, self._adapter, clock=self.clock)
        self._task = asyncio.create_task(self.app.run())
        await asyncio.wait_for(self.app.ready.wait(), 10)
        return self.app

    async def stop(self) -> None:
        """Stop the reconciler."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._adapter is not None:
            await self._adapter.close()
        self._task = self._adapter = None

    async def restart(self) -> ReconcilerApp:
        """Stop the reconciler and start a new one with empty memory."""
        await self.stop()
        return await self.start()

    def check_store(self) -> int:
        """Assert that every object the reconciler's store holds at the version the API
        holds now is what the API holds (slimmed): no reader wrote into a stored object or
        into a piece stored objects share. How many objects were compared."""
        compared = 0
        if self.app is None:
            return compared
        for gk in STORED_KINDS:
            for stored in list(self.app.store.list(gk)):
                m = stored["metadata"]
                api = self.mgmt.find(stored["apiVersion"], gk.kind, m["name"], m.get("namespace"))
                if api is None or api["metadata"].get("resourceVersion") != m["resourceVersion"]:
                    continue
                assert orjson.dumps(stored) == orjson.dumps(slim(api)), f"{gk} {m['name']}"
                compared += 1
        return compared

    def workload(self, cluster: str) -> EmulatedCluster:
        """The workload cluster a Cluster object was provisioned into."""
        return self.fleet[workload_cluster_name("mgmt", NAMESPACE, cluster)]

    def workload_or_none(self, cluster: str) -> EmulatedCluster | None:
        """The workload cluster of a Cluster object, if it was provisioned."""
        name = workload_cluster_name("mgmt", NAMESPACE, cluster)
        return self.fleet.clusters.get(name)

    async def wait_workload(self, cluster: str, within: float = 10.0) -> EmulatedCluster:
        """Wait for the simulation to provision ``cluster``."""
        name = workload_cluster_name("mgmt", NAMESPACE, cluster)
        await eventually(lambda: name in self.fleet, within=within, what=f"cluster {name}")
        return self.fleet[name]

    def bundle(self, name: str) -> Obj:
        """The bundle as stored now."""
        return self.mgmt.get(BUNDLE_API, "AddonBundle", name, NAMESPACE)

    async def delete_bundle(self, name: str, within: float = 10.0) -> None:
        """Delete a bundle and wait until it is gone (its finalizer released)."""
        self.mgmt.delete(BUNDLE_API, "AddonBundle", name, NAMESPACE)
        await eventually(
            lambda: self.mgmt.find(BUNDLE_API, "AddonBundle", name, NAMESPACE) is None,
            within=within,
            what=f"bundle {name} deleted",
        )

    async def wait_bundle(
        self, name: str, until: Callable[[Obj], bool], within: float = 15.0
    ) -> Obj:
        """Wait until the stored bundle satisfies ``until``."""
        found: list[Obj] = []

        def check() -> bool:
            obj = self.mgmt.find(BUNDLE_API, "AddonBundle", name, NAMESPACE)
            found[:] = [obj] if obj else []
            return obj is not None and until(obj)

        await eventually(check, within=within, what=f"bundle {name}", last=found)
        return found[0]

    async def settle(self, quiet: float = 0.3, within: float = 10.0) -> None:
        """Wait until the reconciler's queue stays empty and idle for ``quiet`` seconds."""
        deadline = time.monotonic() + within
        idle_since: float | None = None
        while time.monotonic() < deadline:
            assert self.app is not None
            triggers = self.app.triggers.queue
            busy = (
                len(self.app.queue)
                or self.app.queue.processing
                or len(triggers)
                or triggers.processing
            )
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= quiet:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("the reconciler did not settle")


def addon_phases(obj: Obj, cluster: int = 0) -> dict[str, str]:
    """{add-on name: phase} on one cluster of a bundle's status."""
    clusters = (obj.get("status") or {}).get("clusters") or []
    if len(clusters) <= cluster:
        return {}
    return {a["name"]: a["phase"] for a in clusters[cluster]["addons"]}


def first_message(obj: Obj) -> str | None:
    """The message of the first add-on on the first cluster of a bundle's status."""
    clusters = (obj.get("status") or {}).get("clusters") or []
    addons = clusters[0]["addons"] if clusters else []
    return addons[0].get("message") if addons else None


def condition(obj: Obj, kind: str) -> Obj:
    """One condition of a bundle's status (empty when absent)."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


def is_ready(obj: Obj) -> bool:
    """Whether the bundle reports Ready=True."""
    return condition(obj, "Ready").get("status") == "True"


async def eventually(
    check: Callable[[], bool], *, within: float, what: str, last: Any = None
) -> None:
    """Poll ``check`` (sync) while letting the event loop run."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}; last seen: {last!r}")


@contextlib.asynccontextmanager
async def running(
    tmp: Path,
    *,
    workers: int = 4,
    simulation: bool | frozenset[str] = True,
    start: bool = True,
    rbac: bool | Literal["secret-namespaces"] = False,
    clock: Callable[[], str] = utc_now,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """A fleet with a management cluster, and the reconciler running against it (unless
    ``start`` is false: a test that runs the reconciler in its own process). With ``rbac``,
    the install's RBAC is applied, the emulator denies what it does not grant, and the
    reconciler runs as the install's service account; Secrets are granted cluster-wide, or
    with ``rbac="secret-namespaces"`` by the per-namespace Roles (whose namespaces are
    created)."""
    with Fleet(simulation=simulation) as fleet:
        mgmt = fleet.add_cluster("mgmt")
        install_capi_crds(mgmt)
        for plural in ("addonbundles", "eventsources", "eventtriggers"):
            crd = (REPO / "package" / "crds" / f"addons.aifleet.io_{plural}.yaml").read_text()
            mgmt.apply_manifests(crd, field_manager="crossplane")
        install_placement_crds(mgmt)
        for namespace in (NAMESPACE, "crossplane-system"):
            mgmt.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        config = Settings(
            workers=workers,
            resync_period=settings.pop("resync_period", 3600.0),
            chart_cache=tmp / "charts",
            charts_root=REPO,
            probe_address=settings.pop("probe_address", None),
            timing=settings.pop("timing", Timing(waiting=0.05, gpu=0.1, status=0.02)),
            **settings,
        )
        harness = Harness(fleet, mgmt, config, clock=clock)
        if rbac:
            secrets = SECRET_RBAC[
                "secret-namespaces" if rbac == "secret-namespaces" else "cluster-wide"
            ]
            for doc in yaml.safe_load_all(secrets.read_text()):
                namespace = (doc or {}).get("metadata", {}).get("namespace")
                if namespace and mgmt.find("v1", "Namespace", namespace) is None:
                    mgmt.create(
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                    )
            mgmt.apply_manifests(INSTALL_RBAC.read_text(), field_manager="kubectl")
            mgmt.apply_manifests(secrets.read_text(), field_manager="kubectl")
            mgmt.enable_rbac()
            harness.service_account = INSTALL_SERVICE_ACCOUNT
        if start:
            await harness.start()
        try:
            yield harness
            harness.check_store()
        finally:
            await harness.stop()


def install_placement_crds(mgmt: EmulatedCluster) -> None:
    """The AIModelDeployment CRD and the AIInferenceCluster XR's, as the packages install."""
    crd = REPO / "package" / "crds" / "aifleet.io_aimodeldeployments.yaml"
    mgmt.apply_manifests(crd.read_text(), field_manager="crossplane")
    xrd = load_yaml(REPO / "xrds" / "aiinferencecluster.yaml")
    mgmt.apply(crd_from_xrd(xrd), field_manager="crossplane")


def load_yaml(path: Path) -> Obj:
    """One YAML document from a file."""
    doc: Obj = yaml.safe_load(path.read_text())
    return doc
