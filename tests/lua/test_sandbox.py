"""Nothing of Python or the host is reachable from a Lua script, and limits hold."""

from __future__ import annotations

import pytest

from function.errors import LuaError
from function.lua.runtime import MIB, Limits, Sandbox

SMALL = Limits(max_memory=16 * MIB, max_instructions=200_000, timeout=30.0)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SMALL)


def run(sandbox: Sandbox, body: str, **values: object) -> object:
    script = sandbox.compile(f"function evaluate()\n{body}\nend", name="probe")
    return sandbox.evaluate(script, {"obj": {}, **values}, argument="obj").value


@pytest.mark.parametrize(
    "name",
    [
        "python",
        "io",
        "debug",
        "load",
        "loadstring",
        "dofile",
        "loadfile",
        "module",
        "getfenv",
        "setfenv",
        "collectgarbage",
        "newproxy",
        "package",
        "gcinfo",
    ],
)
def test_dangerous_globals_are_absent(sandbox: Sandbox, name: str) -> None:
    assert run(sandbox, f"return {{kind = type({name})}}") == {"kind": "nil"}


@pytest.mark.parametrize("name", ["execute", "exit", "getenv", "remove", "rename", "tmpname"])
def test_os_keeps_only_its_clock_functions(sandbox: Sandbox, name: str) -> None:
    assert run(sandbox, f"return {{kind = type(os.{name}), time = type(os.time)}}") == {
        "kind": "nil",
        "time": "function",
    }


def test_os_execute_cannot_be_called(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match=r"probe:2: attempt to call field 'execute' \(a nil value\)"):
        run(sandbox, 'return os.execute("touch /tmp/escaped")')


def test_io_open_cannot_be_called(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="attempt to index global 'io'"):
        run(sandbox, 'return io.open("/etc/passwd")')


def test_string_dump_is_absent(sandbox: Sandbox) -> None:
    assert run(sandbox, "return {kind = type(string.dump)}") == {"kind": "nil"}


def test_require_reaches_only_the_helper_modules(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        local found = {}
        for _, name in ipairs({"os", "io", "debug", "python", "lupa", "string"}) do
          found[#found + 1] = tostring(pcall(require, name))
        end
        return {found = found, json = type(require("json")), strings = type(require("strings"))}
        """,
    )
    assert result == {"found": ["false"] * 6, "json": "table", "strings": "table"}


def test_the_string_metatable_is_hidden(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="attempt to index a nil value"):
        run(sandbox, 'return getmetatable("").__index.dump')
    assert run(sandbox, 'return {("abc"):upper()}') == ["ABC"]


def test_getmetatable_sees_only_tables(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        local mt = {}
        local t = setmetatable({}, mt)
        return {own = getmetatable(t) == mt, string = getmetatable("x") == nil,
                fn = getmetatable(print) == nil}
        """,
    )
    assert result == {"own": True, "string": True, "fn": True}


def test_bytecode_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="bytecode is refused"):
        sandbox.compile("\x1bLuaQ\x00\x01\x04", name="binary")


def test_loading_bytecode_from_inside_is_impossible(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="attempt to call global 'loadstring'"):
        run(sandbox, 'return loadstring("\\27Lua")')


def test_an_infinite_loop_stops_at_the_instruction_limit(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError) as caught:
        run(sandbox, "while true do end")
    assert caught.value.line == 2
    assert caught.value.reason == "ran more than the instruction limit (200,000)"


def test_pcall_cannot_swallow_the_limit(sandbox: Sandbox) -> None:
    body = "while true do pcall(function() while true do end end) end"
    with pytest.raises(LuaError, match="instruction limit"):
        run(sandbox, body)


def test_a_script_cannot_return_after_catching_the_limit(sandbox: Sandbox) -> None:
    body = "pcall(function() while true do end end)\nreturn {escaped = true}"
    with pytest.raises(LuaError, match="instruction limit"):
        run(sandbox, body)


def test_a_loop_inside_a_coroutine_is_stopped(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="instruction limit"):
        run(sandbox, "local co = coroutine.wrap(function() while true do end end)\nco()")
    with pytest.raises(LuaError, match="instruction limit"):
        run(sandbox, "coroutine.resume(coroutine.create(function() while true do end end))")


def test_the_wall_clock_limit_stops_a_long_run() -> None:
    sandbox = Sandbox(Limits(max_instructions=10**12, timeout=0.05))
    with pytest.raises(LuaError) as caught:
        run(sandbox, "while true do end")
    assert caught.value.reason == "ran longer than the time limit (0.05s)"


def test_a_string_rep_bomb_hits_the_memory_limit(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError) as caught:
        run(sandbox, 'local s = string.rep("x", 1024 * 1024 * 1024)\nreturn {#s}')
    assert caught.value.reason == "used more than the memory limit (16 MiB)"


def test_repeating_an_empty_string_cannot_spin_in_c(sandbox: Sandbox) -> None:
    assert run(sandbox, 'return {("").rep("", 2^52), string.rep("", 2^52), ("ab"):rep(2)}') == [
        "",
        "",
        "abab",
    ]


def test_a_growing_table_hits_the_memory_limit(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError, match="memory limit"):
        run(sandbox, "local t = {}\nfor i = 1, 1e9 do t[i] = ('y'):rep(100000) .. i end")


@pytest.mark.parametrize(
    "body",
    [
        'local t = {}\nfor i = 1, 20 do t[i] = ("x"):rep(1000000) .. i end\n'
        'return {#require("json").encode(t)}',
        'local t = require("json").decode("[" .. ("1,"):rep(2000000) .. "1]")\nreturn {#t}',
        'return {#require("strings").Fields(("ab "):rep(3000000))}',
    ],
    ids=["json.encode", "json.decode", "strings.Fields"],
)
def test_a_helper_result_beyond_the_limit_fails_the_script_not_the_process(
    sandbox: Sandbox, body: str
) -> None:
    for _ in range(2):
        with pytest.raises(LuaError, match="memory limit"):
            run(sandbox, body)
    assert run(sandbox, "return {ok = true}") == {"ok": True}


def test_helpers_called_at_the_memory_limit_fail_cleanly() -> None:
    body = """
    local json, strings = require("json"), require("strings")
    local hog = {}
    pcall(function() while true do hog[#hog + 1] = {} end end)
    for _ = 1, 100 do
      pcall(json.decode, "[1, 2, 3]")
      pcall(strings.ToUpper, "abc")
    end
    return {survived = true}
    """
    sandbox = Sandbox(Limits(max_memory=4 * MIB))
    with pytest.raises(LuaError, match="memory limit"):
        run(sandbox, body)
    assert run(sandbox, "return {again = true}") == {"again": True}


def test_a_metamethod_on_the_result_does_not_run_outside_the_limits(sandbox: Sandbox) -> None:
    body = "return setmetatable({}, {__index = function() while true do end end})"
    assert run(sandbox, body) == {}


def test_the_memory_limit_counts_what_the_script_allocates_beyond_its_inputs() -> None:
    sandbox = Sandbox(Limits(max_memory=4 * MIB))
    big = {"data": "x" * (8 * MIB)}
    length = sandbox.compile("function evaluate() return {#obj.data} end", name="length")
    double = sandbox.compile("function evaluate() return {#(obj.data .. obj.data)} end", name="d")
    for _ in range(3):
        assert sandbox.evaluate(length, {"obj": big}, argument="obj").value == [8 * MIB]
    with pytest.raises(LuaError, match="memory limit"):
        sandbox.evaluate(double, {"obj": big}, argument="obj")


def test_python_objects_never_reach_lua(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        local seen = {}
        local function walk(t, depth)
          if depth > 3 then return end
          for k, v in pairs(t) do
            local kind = type(v)
            if kind == "userdata" then seen[#seen + 1] = tostring(k) end
            if kind == "table" and v ~= t then walk(v, depth + 1) end
          end
        end
        walk(_G, 0)
        walk(require("json"), 0)
        walk(require("strings"), 0)
        return {userdata = #seen}
        """,
    )
    assert result == {"userdata": 0}


def test_a_failing_helper_does_not_hand_over_a_python_exception(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        local value, err = require("json").decode("{not json")
        local upper_ok, upper_err = pcall(require("strings").ToUpper, "\\255")
        return {value = tostring(value), kind = type(err), upper = type(upper_err)}
        """,
    )
    assert result == {"value": "nil", "kind": "string", "upper": "string"}


def test_evaluations_do_not_share_globals_or_libraries(sandbox: Sandbox) -> None:
    polluter = sandbox.compile(
        """
        function evaluate()
          leaked = "yes"
          string.upper = function() return "hijacked" end
          require("strings").ToUpper = function() return "hijacked" end
          table.insert = nil
          return {}
        end
        """,
        name="polluter",
    )
    observer = sandbox.compile(
        """
        function evaluate()
          return {leaked = tostring(leaked), upper = string.upper("a"), method = ("b"):upper(),
                  helper = require("strings").ToUpper("c"), insert = type(table.insert)}
        end
        """,
        name="observer",
    )
    sandbox.evaluate(polluter, {"obj": {}}, argument="obj")
    assert sandbox.evaluate(observer, {"obj": {}}, argument="obj").value == {
        "leaked": "nil",
        "upper": "A",
        "method": "B",
        "helper": "C",
        "insert": "function",
    }


def test_the_sandbox_works_again_after_a_failure(sandbox: Sandbox) -> None:
    with pytest.raises(LuaError):
        run(sandbox, "while true do end")
    assert run(sandbox, "return {ok = true}") == {"ok": True}


@pytest.mark.parametrize(
    "call",
    [
        'string.find(("a"):rep(40), ("a?"):rep(40) .. ("a"):rep(40))',
        '(("a"):rep(40)):match(("a?"):rep(40) .. ("a"):rep(40))',
        '(("a"):rep(100000)):find("a*b")',
        'string.gsub(("a"):rep(100000), "a-b", "")',
        'string.gmatch(("(x)"):rep(50000), "%b()%b()")',
    ],
)
def test_a_pattern_too_complex_for_its_subject_is_refused_before_it_runs(
    sandbox: Sandbox, call: str
) -> None:
    with pytest.raises(LuaError) as caught:
        run(sandbox, f"local x = 1\nreturn {{{call}}}")
    assert caught.value.line == 3
    assert "is too complex for a subject of" in caught.value.reason
    assert "(its worst case exceeds 100000000 steps)" in caught.value.reason


def test_ordinary_patterns_match_as_before(sandbox: Sandbox) -> None:
    result = run(
        sandbox,
        """
        local long = ("word "):rep(20000)
        local major, minor = ("v1.33.2"):match("^v?(%d+)%.(%d+)")
        local padded = "  " .. ("x"):rep(1000) .. "  "
        local parts = {}
        for part in ("a,b,c"):gmatch("[^,]+") do parts[#parts + 1] = part end
        return {major = major, minor = minor, trimmed = #padded:match("^%s*(.-)%s*$"),
                spaces = select(2, long:gsub("%s+", " ")), parts = parts,
                plain = (long:find("word", 50000, true)), found = (long:find("d w"))}
        """,
    )
    assert result == {
        "major": "1",
        "minor": "33",
        "trimmed": 1000,
        "spaces": 20000,
        "parts": ["a", "b", "c"],
        "plain": 50001,
        "found": 4,
    }


def test_a_library_a_script_changes_is_its_own_in_a_batch(sandbox: Sandbox) -> None:
    script = sandbox.compile(
        "function evaluate()\n"
        "  local before = string.upper ~= nil\n"
        "  string.upper = nil\n"
        "  return {matching = before, message = obj.name}\n"
        "end",
        name="probe",
    )
    got = sandbox.evaluate_each(script, [{"name": "a"}, {"name": "b"}], argument="obj")
    assert [e.value for e in got] == [
        {"matching": True, "message": "a"},
        {"matching": True, "message": "b"},
    ]


def test_globals_a_script_sets_do_not_reach_the_next_object(sandbox: Sandbox) -> None:
    script = sandbox.compile(
        "function evaluate()\n"
        "  local seen = counter\n"
        "  counter = obj.n\n"
        "  string = nil\n"
        "  return {matching = seen == nil and string == nil}\n"
        "end",
        name="probe",
    )
    got = sandbox.evaluate_each(script, [{"n": 1}, {"n": 2}], argument="obj")
    assert [e.value for e in got] == [{"matching": True}, {"matching": True}]


def test_the_environment_lists_every_library_through_underscore_g(sandbox: Sandbox) -> None:
    names = run(
        sandbox,
        "local names = {}\n"
        "for name, v in pairs(_G) do if type(v) == 'table' and name ~= '_G' then "
        "names[#names + 1] = name end end\n"
        "table.sort(names)\n"
        "return {names = names, hidden = getmetatable(_G) == nil}",
    )
    assert names == {
        "names": ["coroutine", "math", "obj", "os", "string", "table"],
        "hidden": True,
    }


def test_a_batch_stops_at_the_object_that_fails(sandbox: Sandbox) -> None:
    script = sandbox.compile(
        "function evaluate()\n  if obj.spin then while true do end end\n"
        "  return {matching = true}\nend",
        name="probe",
    )
    with pytest.raises(LuaError) as caught:
        sandbox.evaluate_each(script, [{}, {"spin": True}, {}], argument="obj")
    assert caught.value.line == 2
    assert caught.value.reason == "ran more than the instruction limit (200,000)"
    assert [e.value for e in sandbox.evaluate_each(script, [{}, {}], argument="obj")] == [
        {"matching": True},
        {"matching": True},
    ]


def test_a_batch_sees_its_objects_as_the_recursive_conversion_makes_them(
    sandbox: Sandbox,
) -> None:
    script = sandbox.compile(
        "function evaluate()\n"
        "  return {missing = obj.gone == nil, hole = obj.list[2] == nil, third = obj.list[3],\n"
        "          nested = obj.nested[1][2], pair = obj.pair[2], empty = obj.empty,\n"
        "          key = obj.map[1], flag = obj.map.t, deep = obj.a.b.c.d}\n"
        "end",
        name="probe",
    )
    obj = {
        "gone": None,
        "list": [1, None, "x"],
        "nested": [[1, 2], [3]],
        "pair": (4, 5),
        "empty": {},
        "map": {1: "one", "t": "yes"},
        "a": {"b": {"c": {"d": 1.5}}},
    }
    (seen,) = sandbox.evaluate_each(script, [obj], argument="obj")
    assert seen.value == {
        "missing": True,
        "hole": True,
        "third": "x",
        "nested": 2,
        "pair": 5,
        "empty": {},
        "key": "one",
        "flag": "yes",
        "deep": 1.5,
    }


def test_objects_of_a_batch_do_not_count_against_its_memory_limit() -> None:
    small = Sandbox(Limits(max_memory=1 * MIB))
    script = small.compile(
        "function evaluate() return {matching = #obj.data == 4096} end", name="probe"
    )
    objects = [{"data": list(range(4096))} for _ in range(32)]  # 2 MiB of tables in Lua
    got = small.evaluate_each(script, objects, argument="obj")
    assert [e.value for e in got] == [{"matching": True}] * 32
