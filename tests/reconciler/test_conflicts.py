"""Which targets a bundle's withdrawal or pruning frees (`conflicts.losers`, pure)."""

from function.model.bundlestatus import (
    AddonPhase,
    AddonStatus,
    ClusterAddonsStatus,
    ObjectConflict,
)
from function.model.common import ObjectRef
from function.reconciler.conflicts import losers
from function.reconciler.keys import BundleKey, TargetKey
from function.reconciler.provisioning import CAPI_CLUSTER
from function.reconciler.store import ObjectId

C1 = ObjectId(CAPI_CLUSTER, "t", "c1")
C2 = ObjectId(CAPI_CLUSTER, "t", "c2")
BASE = BundleKey("t", "base")


def _status(cluster: ObjectId, **conflicts: list[str]) -> ClusterAddonsStatus:
    """Add-ons by name, each losing the given objects to ``t/base``."""
    ref = ObjectRef(api_version="cluster.x-k8s.io/v1beta2", kind="Cluster", name=cluster.name)
    addons = [
        AddonStatus(
            name=name,
            phase=AddonPhase.FAILED,
            conflicts=[ObjectConflict(object=o, winner="t/base", winner_tier=10) for o in lost]
            or None,
        )
        for name, lost in conflicts.items()
    ]
    return ClusterAddonsStatus(cluster_ref=ref, addons=addons)


STATUSES = {
    TargetKey(BundleKey("t", "app"), C1): _status(
        C1, cm=["ConfigMap apps/shared"], sa=["ServiceAccount apps/runner"], ok=[]
    ),
    TargetKey(BundleKey("t", "web"), C1): _status(C1, cm=["ConfigMap apps/other"]),
    TargetKey(BundleKey("t", "app"), C2): _status(C2, cm=["ConfigMap apps/shared"]),
}


def test_a_withdrawal_frees_every_addon_that_lost_to_the_bundle_on_that_cluster() -> None:
    assert losers(STATUSES, BASE, C1) == {
        TargetKey(BundleKey("t", "app"), C1): {"cm", "sa"},
        TargetKey(BundleKey("t", "web"), C1): {"cm"},
    }


def test_pruning_frees_only_the_addons_that_lost_a_pruned_object() -> None:
    pruned = ["ConfigMap apps/shared", "Secret apps/unrelated"]
    assert losers(STATUSES, BASE, C1, pruned) == {TargetKey(BundleKey("t", "app"), C1): {"cm"}}
    assert losers(STATUSES, BASE, C1, ["Secret apps/unrelated"]) == {}
    assert losers(STATUSES, BundleKey("t", "web"), C1, pruned) == {}
