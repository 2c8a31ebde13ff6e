"""A catalogue of hostile Lua health rules: escapes from the sandbox and resource bombs.

Each rule is stopped with a clear error — in the add-on's status through the reconciler, and
directly in the sandbox — while a healthy bundle on the same cluster is reconciled and a
healthy template renders at the same time. The time each rule ran before it was stopped is
printed at the end (``pytest -s``); it is reported, not asserted.
"""

from pathlib import Path
from typing import Any

from function.lua.health import compile_health_rule
from function.lua.runtime import Sandbox
from tests.reconciler.harness import capi_cluster, configmap_addon, running
from tests.reconciler.hostile import Attempt, Report, stop_beside_healthy_work

TIME = "ran longer than the time limit (1s)"
INSTRUCTIONS = "ran more than the instruction limit (20,000,000)"
MEMORY = "used more than the memory limit (64 MiB)"

RULES: list[tuple[str, str, str]] = [
    # escapes
    ("os.execute", 'os.execute("touch /tmp/escaped")', "attempt to call field 'execute'"),
    ("io.open", 'return io.open("/etc/passwd")', "attempt to index global 'io'"),
    ("require os", 'return require("os").execute("id")', "module 'os' not found"),
    ("require python", 'return require("python")', "module 'python' not found"),
    ("load bytecode", 'return loadstring("\\27LuaQ\\0")()', "attempt to call global 'loadstring'"),
    ("load a function", "return load(function() end)()", "attempt to call global 'load'"),
    ("string.dump", "return string.dump(evaluate)", "attempt to call field 'dump'"),
    ("debug.getregistry", "return debug.getregistry()", "attempt to index global 'debug'"),
    ("debug.sethook off", "debug.sethook()\nwhile true do end", "attempt to index global 'debug'"),
    ("python bridge", 'return python.eval("1")', "attempt to index global 'python'"),
    ("string metatable", 'return getmetatable("").__index.dump', "attempt to index a nil value"),
    ("setfenv", "setfenv(1, {})", "attempt to call global 'setfenv'"),
    ("getfenv", "return getfenv(0).os", "attempt to call global 'getfenv'"),
    (
        "metatable __index to _G",
        "local t = setmetatable({}, {__index = function() return _G.os end})\n"
        'return t.x.getenv("HOME")',
        "attempt to call field 'getenv'",
    ),
    (
        "coroutine loop",
        "coroutine.wrap(function() while true do end end)()",
        INSTRUCTIONS,
    ),
    (
        "coroutine yield ping-pong",
        "local co = coroutine.wrap(function() while true do coroutine.yield() end end)\n"
        "while true do co() end",
        INSTRUCTIONS,
    ),
    # bombs
    ("infinite loop", "while true do end", INSTRUCTIONS),
    (
        "pcall swallowing the limit",
        "while true do pcall(function() while true do end end) end",
        INSTRUCTIONS,
    ),
    (
        "deep recursion",
        "local function f(n) return 1 + f(n + 1) end\nreturn f(1)",
        "stack overflow",
    ),
    ("string.rep", 'return {#string.rep("x", 2^30)}', MEMORY),
    ("table growth", "local t = {}\nfor i = 1, 1e9 do t[i] = {i} end", MEMORY),
    ("concatenation doubling", 'local s = "x"\nwhile true do s = s .. s end', MEMORY),
    (
        "pathological pattern",
        'return {string.find(("a"):rep(40), ("a?"):rep(40) .. ("a"):rep(40) .. "b")}',
        "is too complex for a subject of 40 characters",
    ),
    (
        "quadratic pattern",
        'return {(("a"):rep(3000000)):find("a*b")}',
        "is too complex for a subject of 3000000 characters",
    ),
    ("huge gsub", 'local s = ("x"):rep(1e6)\nreturn {#s:gsub(".", ("y"):rep(1000))}', MEMORY),
    (
        "error object with a looping __tostring",
        "error(setmetatable({}, {__tostring = function() while true do end end}))",
        "error object is a table",
    ),
    (
        "error object with a huge __tostring",
        'error(setmetatable({}, {__tostring = function() return ("x"):rep(2^30) end}))',
        "error object is a table",
    ),
    ("huge result", "local t = {}\nfor i = 1, 3e6 do t[i] = i end\nreturn t", MEMORY),
    (
        "deeply nested result",
        "local t = {}\nlocal c = t\nfor i = 1, 1000 do c.a = {}\nc = c.a end\nreturn t",
        "the result is nested deeper than 100",
    ),
    ("a function in the result", "return {resources = {print}}", "which has no JSON form"),
    (
        "a result that contains itself",
        "local t = {}\nt.self = t\nreturn t",
        "the result holds a table that contains itself",
    ),
]

SANDBOX = Sandbox()
OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "apps"}}
]


def attempt(index: int, name: str, body: str, expected: str) -> Attempt:
    script = f"function evaluate()\n{body}\nend\n"
    addon = {**configmap_addon(f"evil-{index}"), "health": {"builtin": False, "lua": script}}
    rule = compile_health_rule(script, name=name, sandbox=SANDBOX)
    # A bomb's wall-clock limit may come first when the machine is busy.
    stops = (expected, TIME) if expected in (INSTRUCTIONS, MEMORY) else (expected,)
    return Attempt(name, addon, stops, lambda: rule.judge(OBJECTS) and None)


def test_the_catalogue_holds_twenty_attempts_and_more() -> None:
    assert len(RULES) >= 20
    assert len({name for name, _, _ in RULES}) == len(RULES)


async def test_every_hostile_rule_is_stopped_while_healthy_work_goes_on(tmp_path: Path) -> None:
    report = Report("Lua health rules")
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        await h.wait_workload("c1")
        for index, (name, body, expected) in enumerate(RULES):
            await stop_beside_healthy_work(h, index, attempt(index, name, body, expected), report)
    report.print()
    assert len(report.rows) == len(RULES)
