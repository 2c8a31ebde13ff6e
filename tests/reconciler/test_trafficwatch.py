"""What a traffic ConfigMap's watch keeps, and how its time is read (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from function.reconciler.trafficwatch import parse_signal, slim_traffic


def test_a_traffic_configmap_is_kept_as_its_label_and_its_time() -> None:
    full = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "t",
            "namespace": "vllm",
            "uid": "u",
            "labels": {"aifleet.io/traffic": "llama", "app": "router"},
            "managedFields": [{"manager": "router"}],
        },
        "data": {"lastTraffic": "2026-12-07T10:00:00Z", "requests": "12345"},
    }
    assert slim_traffic(full) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "t", "namespace": "vllm", "labels": {"aifleet.io/traffic": "llama"}},
        "data": {"lastTraffic": "2026-12-07T10:00:00Z"},
    }


def test_a_traffic_time_is_rfc3339_or_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert parse_signal("2026-12-07T10:00:00Z", "x") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert parse_signal("2026-12-07T10:00:00", "x") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert parse_signal("", "x") is None
    assert parse_signal("soon", "lastTraffic of ConfigMap vllm/t") is None
    assert "ignoring lastTraffic of ConfigMap vllm/t='soon': not an RFC 3339 time" in caplog.text
