"""Pure composition: from a parsed XR and Input to desired resources and XR status. No I/O.

`compose` (in `pipeline`) is the entry point `function.fn` calls; `sizing` sizes the GPU pool,
`cluster` writes the Cluster API `Cluster`, `addons` and `serving` the `AddonBundle`,
`readiness` reads observed state, `status` writes the XR's status, conditions and events, and
`naming` holds the names they share.
"""

from function.compose.pipeline import (
    OBSERVED_FIELDS,
    ComposedResource,
    CompositeResource,
    Composition,
    compose,
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
]
