"""compose: desired objects depend on the spec alone; status follows the observed state."""

from typing import Any

import pytest

from function.compose import CompositeResource, compose
from function.errors import SpecError
from function.model.input import parse_input

SPEC: dict[str, Any] = {
    "region": "eu-west-1",
    "capi": {"infrastructure": "aws"},
    "gpu": {"product": "L4"},
    "models": [{"name": "m", "parameters": "8B", "source": "hf://org/m"}],
}


def xr(**spec: Any) -> CompositeResource:
    return CompositeResource(
        api_version="aifleet.io/v1alpha1",
        kind="AIInferenceCluster",
        name="c1",
        namespace="team-a",
        spec={**SPEC, **spec},
    )


def test_an_unchanged_xr_gets_the_same_desired_objects() -> None:
    settings = parse_input({})
    first, second = compose(xr(), {}, settings), compose(xr(), {}, settings)
    assert first.resources["cluster"].body is second.resources["cluster"].body
    relabelled = compose(xr(labels={"team": "b"}), {}, settings)
    assert relabelled.resources["cluster"].body["metadata"]["labels"]["team"] == "b"
    v1 = compose(xr(), {}, parse_input({"capiApiVersion": "v1beta1"}))
    assert v1.resources["cluster"].body["apiVersion"] == "cluster.x-k8s.io/v1beta1"


def test_observed_state_changes_status_not_desired_objects() -> None:
    settings = parse_input({})
    before = compose(xr(), {}, settings)
    cluster = {"status": {"initialization": {"controlPlaneInitialized": True}}}
    after = compose(xr(), {"cluster": cluster}, settings)
    assert after.resources["addon-bundle"].body is before.resources["addon-bundle"].body
    assert (before.status["phase"], after.status["phase"]) == ("Provisioning", "InstallingAddons")


def test_a_legacy_xr_belongs_to_its_claims_namespace() -> None:
    legacy = CompositeResource(
        api_version="aifleet.io/v1alpha1",
        kind="XAIInferenceCluster",
        name="c1-abcde",
        labels={"crossplane.io/claim-namespace": "team-c"},
        spec=SPEC,
    )
    body = compose(legacy, {}, parse_input({})).resources["cluster"].body
    assert body["metadata"]["namespace"] == "team-c"
    assert body["metadata"]["labels"]["aifleet.io/tenant"] == "team-c"


def test_an_invalid_spec_fails_every_time() -> None:
    for _ in range(2):
        with pytest.raises(SpecError, match=r"spec\.gpu\.product"):
            compose(xr(gpu={"product": "X"}), {}, parse_input({}))
