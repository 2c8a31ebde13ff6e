"""The fast Struct codec gives exactly what the SDK's documented helpers give."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from crossplane.function import resource
from google.protobuf import struct_pb2

from function.fn import wire

EXAMPLES = Path(__file__).parents[2] / "examples"

DOCUMENTS: list[dict[str, Any]] = [
    {},
    {"a": "b", "empty": "", "unicode": "GPU · 東京 · 🚀", "nested": {"deep": {"deeper": [1]}}},
    {"ints": [0, 1, -1, 127, 128, 16383, 16384, 2**40], "floats": [0.5, -2.25, 1e-9, 3.0]},
    {"bools": [True, False], "null": None, "mixed": [None, "x", 1, {"k": []}, [[]]]},
    {"long": "x" * 20_000, "many": {f"key-{i}": i for i in range(300)}},
    *(
        doc
        for path in sorted(EXAMPLES.rglob("*.yaml"))
        if "charts" not in path.parts
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
    ),
]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_fill_encodes_what_parse_dict_encodes(doc: dict[str, Any]) -> None:
    struct = struct_pb2.Struct()
    wire.fill(struct, doc)
    expected = resource.dict_to_struct(doc)
    assert struct == expected
    assert struct.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_to_dict_decodes_what_message_to_dict_decodes(doc: dict[str, Any]) -> None:
    struct = resource.dict_to_struct(doc)
    assert wire.to_dict(struct) == resource.struct_to_dict(struct)


def test_integral_numbers_come_back_as_ints() -> None:
    decoded = wire.to_dict(resource.dict_to_struct({"replicas": 3, "ratio": 0.9}))
    assert decoded == {"replicas": 3, "ratio": 0.9}
    assert type(decoded["replicas"]) is int


def test_fill_replaces_previous_content() -> None:
    struct = resource.dict_to_struct({"old": 1, "kept": "no"})
    wire.fill(struct, {"new": 2})
    assert wire.to_dict(struct) == {"new": 2}


def test_fields_to_dict_converts_only_named_fields() -> None:
    struct = resource.dict_to_struct({"metadata": {"name": "a"}, "spec": {"big": 1}, "x": 1})
    assert wire.fields_to_dict(struct, ("metadata", "status")) == {"metadata": {"name": "a"}}


def test_unencodable_values_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot encode bytes"):
        wire.encode_struct({"raw": b"\x00"})


def test_shared_encodings_follow_the_object_not_its_address() -> None:
    first = {"kind": "A", "spec": {"n": 1}}
    struct = struct_pb2.Struct()
    wire.fill(struct, first, shared=True)
    wire.fill(struct, first, shared=True)
    assert wire.to_dict(struct) == first
    del first
    for n in range(50):  # new objects, some of them at the freed address
        other = {"kind": "B", "spec": {"n": n}}
        wire.fill(struct, other, shared=True)
        assert wire.to_dict(struct) == other
