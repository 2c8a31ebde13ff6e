"""Names and labels every composed object agrees on.

The composed `Cluster` takes the XR's name, so its kubeconfig Secret is ``<xr>-kubeconfig``
(the Cluster API convention the reconciler reads). The composition resource names (``cluster``,
``addon-bundle``) key desired and observed resources between `function.fn.runner` and
`function.compose`. Cluster labels carry the ``aifleet.io/`` prefix for fleet policies.
"""

from __future__ import annotations

from typing import Final

CLUSTER_RESOURCE: Final = "cluster"
BUNDLE_RESOURCE: Final = "addon-bundle"
COMPOSED_RESOURCES: Final = (BUNDLE_RESOURCE, CLUSTER_RESOURCE)

LABEL_PREFIX: Final = "aifleet.io/"
LABEL_CLUSTER: Final = f"{LABEL_PREFIX}cluster"
LABEL_ENVIRONMENT: Final = f"{LABEL_PREFIX}environment"
LABEL_REGION: Final = f"{LABEL_PREFIX}region"
LABEL_TENANT: Final = f"{LABEL_PREFIX}tenant"
LABEL_INFRASTRUCTURE: Final = f"{LABEL_PREFIX}infrastructure"
LABEL_GPU_PRODUCT: Final = f"{LABEL_PREFIX}gpu-product"
LABEL_GPU_COUNT: Final = f"{LABEL_PREFIX}gpu-count"
LABEL_GPU_MEMORY: Final = f"{LABEL_PREFIX}gpu-memory-mib"
LABEL_MODEL: Final = f"{LABEL_PREFIX}model"

CLAIM_NAMESPACE_LABEL: Final = "crossplane.io/claim-namespace"
DEFAULT_NAMESPACE: Final = "default"
KUBECONFIG_KEY: Final = "value"


def bundle_name(xr_name: str) -> str:
    """The AddonBundle of one XR."""
    return f"{xr_name}-addons"


def kubeconfig_secret(cluster_name: str) -> str:
    """The Secret Cluster API writes the cluster's admin kubeconfig to (key ``value``)."""
    return f"{cluster_name}-kubeconfig"
