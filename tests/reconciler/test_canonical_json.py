"""The bytes every hash is made of: those of the standard JSON encoder, which the hashes
already stamped on workload objects and written in bundle statuses were made with."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from function.reconciler.hashing import canonical_json, object_essence, object_hash


def standard(value: Any) -> bytes:
    """The encoding hashes were made with before: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_decoded_json_encodes_as_the_standard_encoder_does(value: Any) -> None:
    assert canonical_json(value) == standard(value)


def test_values_orjson_would_write_otherwise_encode_as_before() -> None:
    for value in (
        {"threshold": 1e-05, "rate": 5e-06, "tiny": -2.5e-300},
        {"wide": 2**64, "negative": -(2**65)},
        {1: "a", 2: "b"},  # keys that are not strings
        {"at": datetime.datetime(2026, 1, 2, 3, 4, 5), "on": datetime.date(2026, 1, 2)},
        {"names": {"x"}, "raw": b"\x00\x01"},
        {"text": "0.0000 and 1e-5 inside a string", "ctl": "\x00\x1f\x7f\u2028"},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    ):
        assert canonical_json(value) == standard(value), value


def test_nesting_deeper_than_orjson_goes_encodes_as_before() -> None:
    value: Any = 1
    for _ in range(300):
        value = {"a": [value]}
    assert canonical_json(value) == standard(value)


def test_a_float_json_cannot_carry_is_null_as_on_the_wire() -> None:
    assert canonical_json({"limit": float("inf"), "x": float("nan")}) == b'{"limit":null,"x":null}'


def test_an_object_hash_is_the_one_stamped_before() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gpu-operator", "namespace": "gpu-operator", "labels": {"é": "ü"}},
        "spec": {"replicas": 3, "strategy": {"maxSurge": 0.25}, "args": ["--x=1"]},
    }
    assert object_hash(obj) == hashlib.sha256(standard(object_essence(obj))).hexdigest()
