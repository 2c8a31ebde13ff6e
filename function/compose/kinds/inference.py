"""AIInferenceCluster: a GPU pool sized for the models it serves (`function.compose.sizing`),
provisioned by the family of ``spec.provider``, with the serving stack of every runtime in use
and one add-on per model (both added by `function.compose.addons`)."""

from __future__ import annotations

from typing import Any

from function.compose.kinds.kind import Workload, provisioned
from function.compose.serving import check_model_sources
from function.compose.sizing import PoolSize, size_pool
from function.model import xr, xrstatus
from function.model.input import FunctionInput


class InferenceKind:
    """AIInferenceCluster (legacy: XAIInferenceCluster)."""

    kinds = (xr.KIND, xr.LEGACY_KIND)

    def workload(self, name: str, namespace: str, spec: Any, settings: FunctionInput) -> Workload:
        """Models sized onto the pool; the catalog's GPU base and serving stacks."""
        parsed = xr.parse_xr_spec(spec)
        check_model_sources(parsed.models)
        pool = size_pool(parsed)
        return provisioned(
            name, namespace, parsed, pool, settings, status={"models": models_status(pool)}
        )


def models_status(pool: PoolSize) -> list[dict[str, Any]]:
    """How each model was sized, as ``status.models`` reports it."""
    return [
        xrstatus.ModelStatus(
            name=fit.model.name,
            runtime=fit.model.runtime.value,
            gpus_per_replica=fit.devices_per_replica,
            replicas=fit.model.replicas,
            memory_gib=fit.need_gib,
        ).to_dict()
        for fit in pool.models
    ]
