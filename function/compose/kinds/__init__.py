"""XR kinds, chosen by the observed XR's ``kind``: AIInferenceCluster, AITrainingCluster and
EdgeAICluster, each with its legacy (Crossplane 1.x) composite kind.

`KINDS` is the table `function.compose.pipeline` picks from; each entry implements
`function.compose.kinds.kind.XRKind`. Adding a kind means adding its model
(`function.model`), its module here and its row, and its XRDs (`function.model.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from function.compose.kinds.edge import EdgeKind
from function.compose.kinds.inference import InferenceKind
from function.compose.kinds.kind import Workload, XRKind
from function.compose.kinds.training import TrainingKind
from function.errors import SpecError

_ALL: tuple[XRKind, ...] = (InferenceKind(), TrainingKind(), EdgeKind())

KINDS: Mapping[str, XRKind] = MappingProxyType({name: kind for kind in _ALL for name in kind.kinds})
"""Every composed XR kind, v2 and legacy, by kind name."""


def kind_of(name: str) -> XRKind:
    """The XR kind called ``name``; `SpecError` naming the kinds composed otherwise."""
    found = KINDS.get(name)
    if found is None:
        raise SpecError.at("kind", f"unsupported kind {name!r}; composed: {', '.join(KINDS)}")
    return found


__all__ = ["KINDS", "Workload", "XRKind", "kind_of"]
