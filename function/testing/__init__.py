"""A Kubernetes API emulator for tests, benchmarks and demos.

No kube-apiserver can run on every developer machine, so this package serves simulated clusters
over real HTTP on 127.0.0.1 that behave like kube-apiserver where a controller depends on it:
discovery (built-in kinds and every registered CRD), CRUD with PUT, label and field selectors,
`resourceVersion` and 409 on stale writes, `generation`, the `/status` subresource, merge /
JSON / strategic merge patches, server-side apply with `managedFields`, finalizers, watches with
bookmarks and 410 Gone, plus fault injection, a write log, and kwok-style controller simulation
(Deployments become available, CRDs established, Cluster API Clusters provisioned into new
workload clusters...). See ``docs/emulator.md`` for what is exact and what is approximated.

Typical use::

    from kubernetes import client, config
    from function.testing import Fleet, install_capi_crds

    with Fleet() as fleet:                       # background loop, one port per cluster
        mgmt = fleet.add_cluster("mgmt")
        install_capi_crds(mgmt)
        api = config.new_client_from_config_dict(mgmt.kubeconfig())
        client.CoreV1Api(api).list_namespace()   # the real client, over HTTP
        mgmt.apply({...}, field_manager="test")  # in-process helpers, same store
        assert mgmt.writes.count(verb="apply", field_manager="aifleet") == 3
        mgmt.faults.fail(500, verb="list", kind="Secret")
        mgmt.simulation.disable("deployment-available")

From the command line: ``python -m function.testing --clusters 3 --kubeconfig-dir out``.
"""

from __future__ import annotations

from function.testing.cluster import EmulatedCluster
from function.testing.crds import install_capi_crds, install_gpu_operator_crds
from function.testing.faults import FaultRule, Faults
from function.testing.fleet import Fleet
from function.testing.gpu_fleet import add_gpu_cluster
from function.testing.simulation import RULE_NAMES, RuleSettings, Simulation
from function.testing.simulation.capi import workload_cluster_name
from function.testing.simulation.extensions import GPU_COUNT, GPU_PRODUCT, GPU_RESOURCE
from function.testing.writelog import RequestLog, RequestRecord, WriteLog, WriteRecord

__all__ = [
    "GPU_COUNT",
    "GPU_PRODUCT",
    "GPU_RESOURCE",
    "RULE_NAMES",
    "EmulatedCluster",
    "FaultRule",
    "Faults",
    "Fleet",
    "RequestLog",
    "RequestRecord",
    "RuleSettings",
    "Simulation",
    "WriteLog",
    "WriteRecord",
    "add_gpu_cluster",
    "install_capi_crds",
    "install_gpu_operator_crds",
    "workload_cluster_name",
]
