"""Pure composition: from a parsed XR and Input to desired resources and XR status. No I/O.

`compose` (in `pipeline`) is the entry point `function.fn.runner` calls; `sizing` sizes the GPU
pool, `providers` holds one module per provider family (Cluster API, …) that writes the cluster
objects and reads their readiness, `addons` and `serving` compose the add-ons, `delivery`
turns them into an `AddonBundle`, Crossplane Releases and Objects, or Sveltos profiles,
`readiness` reads the bundle's progress, `status` writes the XR's status, conditions and events, and
`naming` holds the names they share.
"""

from function.compose.pipeline import (
    OBSERVED_FIELDS,
    ComposedResource,
    CompositeResource,
    Composition,
    compose,
    observed_paths,
)
from function.compose.status import Condition, Result, Severity

__all__ = [
    "OBSERVED_FIELDS",
    "ComposedResource",
    "CompositeResource",
    "Composition",
    "Condition",
    "Result",
    "Severity",
    "compose",
    "observed_paths",
]
