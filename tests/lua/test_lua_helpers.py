"""Sveltos' helpers as scripts see them: Go's strings, json, base64 and the object helpers."""

from __future__ import annotations

from typing import Any

import pytest

from function.lua.runtime import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


def lua(sandbox: Sandbox, expression: str, **values: Any) -> Any:
    """The value of a Lua expression, with `strings` and `json` required."""
    source = f"""
    local strings = require("strings")
    local json = require("json")
    function evaluate() return {{ {expression} }} end
    """
    script = sandbox.compile(source, name="helpers")
    result = sandbox.evaluate(script, {"obj": {}, **values}, argument="obj").value
    return result[0] if isinstance(result, list) else None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('strings.Contains("nvidia-gpu", "gpu")', True),
        ('strings.Contains("abc", "")', True),
        ('strings.ContainsAny("h100", "0123")', True),
        ('strings.ContainsAny("gpu", "")', False),
        ('strings.ContainsRune("añb", 241)', True),
        ('strings.Count("cheese", "e")', 3),
        ('strings.Count("five", "")', 5),
        ('strings.Count("añb", "")', 4),
        ('strings.EqualFold("Go", "GO")', True),
        ('strings.EqualFold("Straße", "STRASSE")', False),
        ('strings.HasPrefix("nvidia.com/gpu", "nvidia.com/")', True),
        ('strings.HasSuffix("model.safetensors", ".bin")', False),
        ('strings.HasSuffix("x", "")', True),
        ('strings.Index("chicken", "ken")', 4),
        ('strings.Index("chicken", "dmr")', -1),
        ('strings.Index("añb", "b")', 3),
        ('strings.IndexAny("golang", "ny")', 4),
        ('strings.IndexByte("golang", 108)', 2),
        ('strings.IndexRune("chicken", 107)', 4),
        ('strings.IndexFunc("Hello, 世界", function(r) return r > 127 end)', 7),
        ('strings.LastIndex("go gopher", "go")', 3),
        ('strings.LastIndex("go", "")', 2),
        ('strings.LastIndexAny("go gopher", "ordent")', 8),
        ('strings.LastIndexByte("abca", 97)', 3),
        ('strings.LastIndexFunc("go123", function(r) return r < 58 and r > 47 end)', 4),
        ('strings.Compare("a", "b")', -1),
        ('strings.Compare("b", "b")', 0),
        ('strings.Join({"a", "b", "c"}, "-")', "a-b-c"),
        ('strings.Repeat("na", 2)', "nana"),
        ('strings.Replace("oink oink oink", "k", "ky", 2)', "oinky oinky oink"),
        ('strings.Replace("oink oink oink", "oink", "moo", -1)', "moo moo moo"),
        ('strings.Replace("abc", "", "-", -1)', "-a-b-c-"),
        ('strings.Replace("abc", "", "-", 2)', "-a-bc"),
        ('strings.ReplaceAll("a.b.c", ".", "/")', "a/b/c"),
        ('strings.Split("a,b,c", ",")', ["a", "b", "c"]),
        ('strings.Split("a b", "")', ["a", " ", "b"]),
        ('strings.Split("", ",")', [""]),
        ('strings.SplitAfter("a,b,c", ",")', ["a,", "b,", "c"]),
        ('strings.SplitN("a,b,c,d", ",", 2)', ["a", "b,c,d"]),
        ('strings.SplitAfterN("a,b,c,d", ",", 2)', ["a,", "b,c,d"]),
        ('strings.SplitN("a,b", ",", 0) == nil', True),
        ('strings.Fields("  foo bar\\tbaz\\n ")', ["foo", "bar", "baz"]),
        (
            'strings.FieldsFunc("a1b2c", function(r) return r >= 48 and r <= 57 end)',
            ["a", "b", "c"],
        ),
        ('strings.Map(function(r) if r == 97 then return -1 end return r + 1 end, "abc")', "cd"),
        ('strings.Title("her royal highness")', "Her Royal Highness"),
        ('strings.Title("hELLO wORLD")', "HELLO WORLD"),
        ('strings.ToUpper("Gopher ñ")', "GOPHER Ñ"),
        ('strings.ToUpper("ß")', "ß"),
        ('strings.ToLower("GoPher")', "gopher"),
        ('strings.ToTitle("loud")', "LOUD"),
        ('strings.Trim("¡¡¡Hello, Gophers!!!", "!¡")', "Hello, Gophers"),
        ('strings.TrimLeft("xxhixx", "x")', "hixx"),
        ('strings.TrimRight("xxhixx", "x")', "xxhi"),
        ('strings.TrimFunc("123abc456", function(r) return r < 58 end)', "abc"),
        ('strings.TrimLeftFunc("123abc", function(r) return r < 58 end)', "abc"),
        ('strings.TrimRightFunc("abc123", function(r) return r < 58 end)', "abc"),
        ('strings.TrimPrefix("v1.2.3", "v")', "1.2.3"),
        ('strings.TrimSuffix("model.gguf", ".gguf")', "model"),
        ('strings.TrimSpace(" \\t\\n Hello \\r\\n")', "Hello"),
    ],
)
def test_strings_behave_like_go(sandbox: Sandbox, expression: str, expected: Any) -> None:
    assert lua(sandbox, expression) == expected


def test_strings_check_their_arguments(sandbox: Sandbox) -> None:
    assert lua(sandbox, 'select(2, pcall(strings.Contains, "x", nil))') == (
        "bad argument #2 to 'Contains' (string expected, got nil)"
    )
    assert lua(sandbox, 'strings.Contains("v1", 1)') is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('json.encode({b = 1, a = {1, 2.5, "x"}, c = true})', '{"a":[1,2.5,"x"],"b":1,"c":true}'),
        ("json.encode({})", "[]"),
        ('json.encode("<a&b>")', '"\\u003ca\\u0026b\\u003e"'),
        ("json.encode(nil)", "null"),
        ("select(2, json.encode({1, x = 2}))", "cannot encode mixed or invalid key types"),
        ("select(2, json.encode({[1] = 1, [3] = 3}))", "cannot encode sparse array"),
        ("select(2, json.encode(print))", "cannot encode function to JSON"),
        (
            "select(2, (function() local t = {}; t.t = t; return json.encode(t) end)())",
            "cannot encode recursively nested tables to JSON",
        ),
        ("(select(2, json.encode(0/0))):sub(1, 14)", "cannot encode:"),
        ('json.decode(\'{"a": [1, 2, {"b": null}], "c": "d"}\').a[2]', 2),
        ("json.decode('[true, false]')[2]", False),
        ('type(select(2, json.decode("{oops")))', "string"),
        ('select(2, json.decode("NaN"))', "invalid JSON value NaN"),
        ('json.fromYAML("a: 1\\nb: [x, y]").b[2]', "y"),
        ('json.fromYAML("created: 2024-01-01T00:00:00Z").created', "2024-01-01T00:00:00Z"),
        ('json.toYAML({b = {1, 2}, a = "x"})', "a: x\nb:\n- 1\n- 2\n"),
    ],
)
def test_json_behaves_like_sveltos_json_module(
    sandbox: Sandbox, expression: str, expected: Any
) -> None:
    assert lua(sandbox, expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('base64Encode("hello")', "aGVsbG8="),
        ('base64Encode("hi")', "aGk="),
        ('base64Encode("abc")', "YWJj"),
        ('base64Encode("\\0\\255\\1")', "AP8B"),
        ('base64Decode("aGVsbG8=")', "hello"),
        ('base64Decode("YWJj\\nZGVm")', "abcdef"),
        ('select(2, base64Decode("not base64!"))', "decoding failed"),
        ('select(2, base64Decode("aGk"))', "decoding failed"),
        ('select(2, base64Encode(""))', "provided string is empty"),
        ('base64Decode(base64Encode("round trip ñ"))', "round trip ñ"),
    ],
)
def test_base64_behaves_like_go_std_encoding(
    sandbox: Sandbox, expression: str, expected: Any
) -> None:
    assert lua(sandbox, expression) == expected


POD = {
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "vllm"}, "annotations": {"gpu": "h100"}},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('getLabel(obj, "app")', "vllm"),
        ('getLabel(obj, "tier") == nil', True),
        ('getAnnotation(obj, "gpu")', "h100"),
        ('getAnnotation({}, "gpu") == nil', True),
        ("select(2, getLabel(obj))", "expected 2 arguments (table, key)"),
        ('getResource({pods = obj}, "pods").metadata.name', "p"),
        ('getResource({}, "pods") == nil', True),
    ],
)
def test_object_helpers(sandbox: Sandbox, expression: str, expected: Any) -> None:
    assert lua(sandbox, expression, obj=POD) == expected
