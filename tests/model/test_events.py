"""EventSource and EventTrigger specs: Sveltos' field names, and errors naming the field."""

from __future__ import annotations

import pytest

from function.errors import SpecError
from function.model.events import parse_event_source_spec, parse_event_trigger_spec
from function.model.notifications import NotificationType
from function.model.sync import SyncMode

ADDON = {"name": "extra-replica", "manifests": "kind: ConfigMap"}


def test_a_trigger_parses_with_its_defaults() -> None:
    spec = parse_event_trigger_spec(
        {
            "sourceClusterSelector": {"matchLabels": {"env": "prod"}},
            "eventSourceName": "gpu-hot",
            "addons": [ADDON],
            "notifications": [
                {"name": "ops", "type": "Slack", "secretRef": {"name": "slack-hook"}}
            ],
        }
    )
    assert (spec.one_for_event, spec.destination_cluster_selector) == (False, None)
    assert spec.sync_mode is SyncMode.CONTINUOUS_WITH_DRIFT_DETECTION
    assert spec.notifications[0].type is NotificationType.SLACK
    assert spec.notifications[0].secret_ref is not None
    assert spec.notifications[0].secret_ref.key == "url"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"sourceClusterSelector": {}, "eventSourceName": "x", "addons": []},
            "spec.addons: List should have at least 1 item after validation, not 0",
        ),
        (
            {
                "sourceClusterSelector": {},
                "eventSourceName": "x",
                "addons": [{**ADDON, "dependsOn": ["nope"]}],
            },
            "spec.addons[0].dependsOn[0]: unknown add-on 'nope'; known: extra-replica",
        ),
        (
            {"sourceClusterSelector": {}, "eventSourceName": "Bad_Name", "addons": [ADDON]},
            "spec.eventSourceName: unsupported value 'Bad_Name'; "
            "allowed: text matching ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        ),
        (
            {
                "sourceClusterSelector": {},
                "eventSourceName": "x",
                "addons": [ADDON],
                "notifications": [{"name": "a", "type": "Email"}],
            },
            "spec.notifications[0].type: unsupported value 'Email'; "
            "allowed: KubernetesEvent, Webhook, Slack, Teams",
        ),
    ],
)
def test_a_bad_trigger_names_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_event_trigger_spec(spec)
    assert str(caught.value) == message


def test_a_source_needs_a_selector_and_refuses_unsupported_fields() -> None:
    with pytest.raises(SpecError) as caught:
        parse_event_source_spec({"resourceSelectors": [{"kind": "Pod", "evaluateCEL": []}]})
    assert "spec.resourceSelectors[0].evaluateCEL: unknown field" in str(caught.value)
    spec = parse_event_source_spec({"resourceSelectors": [{"kind": "Pod", "namespace": "m"}]})
    assert spec.resource_selectors[0].matches(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "m", "name": "p"}}
    )
