"""Names and labels every composed object agrees on.

The composed `Cluster` takes the XR's name, so its kubeconfig Secret is ``<xr>-kubeconfig``
(the Cluster API convention the reconciler reads, named in `function.model.capi`). The
composition resource names (``cluster``, ``addon-bundle``) key desired and observed resources
between `function.fn.runner` and `function.compose`. Cluster labels carry the ``aifleet.io/``
prefix for fleet policies.
"""

from __future__ import annotations

from typing import Final

from function.model.capi import KUBECONFIG_KEY as KUBECONFIG_KEY
from function.model.capi import kubeconfig_secret as kubeconfig_secret

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


def bundle_name(xr_name: str) -> str:
    """The AddonBundle of one XR."""
    return f"{xr_name}-addons"
