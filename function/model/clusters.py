"""Every kind of cluster object the fleet provisions, for the reconciler's ``clusterSelector``.

A bundle that selects clusters by label may match a Cluster API ``Cluster`` or the cluster
managed resource of a cloud family (`function.compose.providers`: the EKS ``Cluster``, the GKE
``Cluster``, the AKS ``KubernetesCluster``), in Crossplane v2's namespaced groups or the legacy
cluster-scoped ones. `CLOUD_CLUSTER_KINDS` names them with the version the families emit; the
reconciler (`function.reconciler.app`) watches each, and `function.reconciler.reconcile`
lists them all when it resolves a selector. A test checks the families emit only kinds listed
here. Where a cluster's kubeconfig lands is stamped on the object by the annotations below, so
a cluster selected by label (no bundle names its Secret) is still reached.
"""

from __future__ import annotations

from typing import Final

CLOUD_CLUSTER_KINDS: Final = (
    ("eks.aws.m.upbound.io/v1beta1", "Cluster"),
    ("eks.aws.upbound.io/v1beta2", "Cluster"),
    ("container.gcp.m.upbound.io/v1beta1", "Cluster"),
    ("container.gcp.upbound.io/v1beta2", "Cluster"),
    ("containerservice.azure.m.upbound.io/v1beta1", "KubernetesCluster"),
    ("containerservice.azure.upbound.io/v1beta2", "KubernetesCluster"),
)
"""(apiVersion, kind) of the cluster managed resource of every cloud family and scope."""

KUBECONFIG_SECRET_ANNOTATION: Final = "aifleet.io/kubeconfig-secret"
"""On a composed cluster object: the Secret (in its tenant's namespace) of its kubeconfig."""
KUBECONFIG_KEY_ANNOTATION: Final = "aifleet.io/kubeconfig-key"
"""On a composed cluster object: the key of its kubeconfig in that Secret."""
