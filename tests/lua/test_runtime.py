"""The runtime: Sveltos' conversion semantics both ways, errors with rule, line and reason."""

from __future__ import annotations

from typing import Any

import pytest

from function.errors import LuaError
from function.lua.runtime import Sandbox


@pytest.fixture(scope="module", params=[True, False], ids=["reused-state", "fresh-state"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return Sandbox(reuse_states=request.param)


def evaluate(sandbox: Sandbox, source: str, **values: Any) -> Any:
    script = sandbox.compile(source, name="rule")
    return sandbox.evaluate(script, {"obj": {}, **values}, argument="obj").value


def test_numbers_are_lua_numbers_and_come_back_whole_or_fractional(sandbox: Sandbox) -> None:
    source = """function evaluate()
      return {replicas = obj.spec.replicas, half = obj.spec.replicas / 2,
              text = "x" .. obj.spec.replicas, kind = type(obj.spec.replicas)}
    end"""
    obj = {"spec": {"replicas": 3}}
    assert evaluate(sandbox, source, obj=obj) == {
        "replicas": 3,
        "half": 1.5,
        "text": "x3",
        "kind": "number",
    }


def test_lists_are_arrays_from_one_and_nulls_are_absent(sandbox: Sandbox) -> None:
    source = """function evaluate()
      return {n = #obj.items, first = obj.items[1].name, missing = obj.gone == nil,
              ports = #obj.ports, nested = #obj.matrix[2]}
    end"""
    obj = {
        "items": [{"name": "a"}, {"name": "b"}],
        "gone": None,
        "ports": [80, 443],
        "matrix": [[1], [2, 3]],
    }
    assert evaluate(sandbox, source, obj=obj) == {
        "n": 2,
        "first": "a",
        "missing": True,
        "ports": 2,
        "nested": 2,
    }


def test_a_table_with_an_array_part_is_an_array_and_loses_its_other_keys(
    sandbox: Sandbox,
) -> None:
    source = "function evaluate() return {mixed = {1, 2, name = 'x'}, list = {'a', 'b'}} end"
    assert evaluate(sandbox, source) == {"mixed": [1, 2], "list": ["a", "b"]}


def test_an_empty_table_is_an_object(sandbox: Sandbox) -> None:
    assert evaluate(sandbox, "function evaluate() return {resources = {}} end") == {"resources": {}}


def test_number_keys_of_an_object_become_strings(sandbox: Sandbox) -> None:
    source = "function evaluate() return {[2] = 'two', [true] = 'yes', [1.5] = 'x'} end"
    assert evaluate(sandbox, source) == {"2": "two", "true": "yes", "1.5": "x"}


def test_a_returned_input_object_is_the_object_passed_in(sandbox: Sandbox) -> None:
    objects = [
        {"kind": "Pod", "metadata": {"name": "a"}},
        {"kind": "Pod", "metadata": {"name": "b"}},
    ]
    script = sandbox.compile(
        "function evaluate() return {picked = resources[2], all = resources} end", name="rule"
    )
    value = sandbox.evaluate(script, {"resources": objects}, argument="resources").value
    assert value["picked"] is objects[1]
    assert value["all"][0] is objects[0]


def test_a_copy_of_an_input_object_is_converted(sandbox: Sandbox) -> None:
    source = """function evaluate()
      return {copy = {kind = obj.kind, name = obj.metadata.name}}
    end"""
    assert evaluate(sandbox, source, obj={"kind": "Pod", "metadata": {"name": "a"}}) == {
        "copy": {"kind": "Pod", "name": "a"}
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return {f = print}", "the result holds a function, which has no JSON form"),
        ("local t = {}; t.self = t; return t", "the result holds a table that contains itself"),
        ("return {[{}] = 1}", "the result has a table as a key"),
        ('return {"\\255"}', "the result holds a string that is not UTF-8"),
        (
            "local t = {}; local c = t; for i = 1, 200 do c.x = {}; c = c.x end; return t",
            "the result is nested deeper than 100",
        ),
    ],
)
def test_results_without_a_json_form_are_refused(sandbox: Sandbox, body: str, reason: str) -> None:
    with pytest.raises(LuaError) as caught:
        evaluate(sandbox, f"function evaluate() {body} end")
    assert caught.value.reason == reason
    assert caught.value.rule == "rule"


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(LuaError) as caught:
        Sandbox().compile("function evaluate()\n  local x = = 1\nend", name="gpu-operator")
    assert caught.value.line == 2
    assert caught.value.reason == "syntax error: unexpected symbol near '='"
    assert str(caught.value) == "lua gpu-operator:2: syntax error: unexpected symbol near '='"


def test_a_runtime_error_names_the_line(sandbox: Sandbox) -> None:
    source = "function evaluate()\n  local status = obj.status\n  return {status.phase}\nend"
    with pytest.raises(LuaError) as caught:
        evaluate(sandbox, source)
    assert (caught.value.line, caught.value.reason) == (
        3,
        "attempt to index local 'status' (a nil value)",
    )


def test_an_error_raised_by_the_script_keeps_its_message(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError) as caught:
        evaluate(sandbox, 'function evaluate()\n  error("no GPUs")\nend')
    assert (caught.value.line, caught.value.reason) == (2, "no GPUs")


def test_an_error_in_the_top_level_fails_compilation() -> None:
    with pytest.raises(LuaError) as caught:
        Sandbox().compile("local x = nil\nx.y = 1\nfunction evaluate() end", name="r")
    assert (caught.value.line, caught.value.reason) == (
        2,
        "attempt to index local 'x' (a nil value)",
    )


def test_a_script_without_evaluate_is_refused() -> None:
    with pytest.raises(LuaError, match="defines no global function evaluate"):
        Sandbox().compile("function evalute() return {} end", name="typo")


def test_a_local_evaluate_is_not_enough() -> None:
    with pytest.raises(LuaError, match="defines no global function evaluate"):
        Sandbox().compile("local function evaluate() return {} end", name="local")


def test_evaluate_receives_the_argument_and_the_global(sandbox: Sandbox) -> None:
    source = "function evaluate(o) return {same = rawequal(o, obj), name = o.metadata.name} end"
    assert evaluate(sandbox, source, obj={"metadata": {"name": "x"}}) == {
        "same": True,
        "name": "x",
    }


@pytest.mark.parametrize(
    ("body", "read"),
    [
        ("return {name = obj.metadata.name, same = rawequal(o, _G.obj)}", {"obj"}),
        ("return {n = #resources, again = #resources}", {"resources"}),
        ("return {name = o.metadata.name}", set()),
        ("local _ = resources and obj\n return {}", {"obj", "resources"}),
    ],
)
def test_an_evaluation_can_note_the_globals_a_script_reads(
    sandbox: Sandbox, body: str, read: set[str]
) -> None:
    script = sandbox.compile(f"function evaluate(o)\n {body}\nend", name="rule")
    obj = {"metadata": {"name": "x"}}
    values = {"obj": obj, "resources": [obj, obj]}
    noted = sandbox.evaluate(script, values, argument="obj", note_reads=True)
    plain = sandbox.evaluate(script, values, argument="obj")
    assert noted.read == read
    assert plain.read == frozenset()
    assert noted.value == plain.value


def test_printed_lines_are_kept(sandbox: Sandbox) -> None:
    script = sandbox.compile(
        'function evaluate() print("phase", obj.phase, 3, nil, true, {}) return {} end',
        name="rule",
    )
    printed = sandbox.evaluate(script, {"obj": {"phase": "Ready"}}, argument="obj").printed
    assert printed == ("phase\tReady\t3\tnil\ttrue\ttable",)


def test_scripts_written_for_lua_5_1_run(sandbox: Sandbox) -> None:
    source = """function evaluate()
      local parts = {}
      for word in string.gmatch("a,b,c", "[^,]+") do table.insert(parts, word) end
      return {n = table.getn and 0 or #parts, unpacked = select("#", unpack(parts)),
              version = _VERSION, modulo = math.fmod(7, 3)}
    end"""
    assert evaluate(sandbox, source) == {"n": 3, "unpacked": 3, "version": "Lua 5.1", "modulo": 1}
