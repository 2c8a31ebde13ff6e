"""The sandboxed Lua runtime: every user script runs here, and only here.

Lua is real Lua 5.1 through lupa's ``lupa.lua51`` module (Sveltos runs gopher-lua, which
has Lua 5.1 semantics; lupa's wheels for CPython 3.11 to 3.13 all ship it). Not LuaJIT: its JIT
would skip the instruction hook, and lupa cannot cap its memory on 64-bit platforms.

The sandbox, in layers:

- the lupa runtime registers no ``python.eval`` and no builtins, refuses every attribute
  access on a Python object, and never hands a Python object to a script;
- ``sandbox.lua`` (trusted, run once per state) gives each evaluation a fresh environment of
  whitelisted globals only: no ``io``, ``load``/``loadstring``/``dofile``, ``debug``,
  ``getfenv``/``setfenv``, ``collectgarbage``, ``string.dump``, ``python``; ``os`` is cut to
  its clock functions (Sveltos scripts use ``os.time``); ``require`` returns only the helper
  modules; the string metatable is hidden; library tables are copies;
- scripts are text: precompiled bytecode is refused;
- limits (`Limits`): memory (lupa's ``max_memory``, applied by `_MemoryGate` only while
  Lua code runs), and a count hook on every coroutine that stops a script after a number of
  VM instructions or a wall-clock timeout; once tripped, it fires on every instruction, so
  ``pcall`` cannot swallow it.

A single call of a C function is not interrupted by the hook, so the ones a script could make
run for hours are bounded before they run: ``patterns.lua`` refuses a pattern match whose worst
case on its subject is too long, and ``sandbox.lua`` makes ``string.rep("", n)`` return at once
(a C loop that allocates nothing; memory caps every other one).

States are reused, one per thread and `Sandbox` (``reuse_states=False`` makes one per
evaluation, for comparison in ``benchmarks/lua.py``); isolation between evaluations comes
from the fresh environment, and a state is dropped after any failed evaluation. Every failure
becomes a `function.errors.LuaError` naming the rule, the line where known, and why.

`function.lua.health` builds health rules on `Sandbox`; `function.lua.convert` moves values
across; ``checks.lua``, ``strings.lua``, ``helpers.lua`` and `function.lua.helpers` are
Sveltos' helpers.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, NoReturn, TypeVar

import lupa.lua51 as lua51

from function.errors import LuaError
from function.lua.convert import Markers, flatten, from_json, globals_to_lua
from function.lua.helpers import python_helpers

MIB = 1024 * 1024
_TICK = 1000  # instructions between two calls of the limit hook, as in sandbox.lua
BATCH = 256
"""Objects converted into Lua and evaluated per crossing by `Sandbox.evaluate_each`: the memory
limit of the batch's evaluations is set once, so a batch bounds the garbage they leave."""
_T = TypeVar("_T")
_POSITION = re.compile(r"^script:(\d+): (.*)$", re.DOTALL)
_OUT_OF_MEMORY = "not enough memory"


@dataclass(frozen=True, slots=True)
class Limits:
    """What one evaluation may use."""

    max_memory: int = 64 * MIB
    """Bytes a script may allocate in one evaluation, beyond the objects passed in."""
    max_instructions: int = 20_000_000
    """Lua VM instructions per evaluation (counted in steps of 1,000)."""
    timeout: float = 1.0
    """Wall-clock seconds per evaluation."""


@dataclass(frozen=True, slots=True)
class Script:
    """A script that loaded and defined ``evaluate()``; made only by `Sandbox.compile`."""

    name: str
    source: str
    digest: str


class Evaluation(NamedTuple):
    """What ``evaluate()`` returned, converted, and what the script printed (a tuple: one is
    made per object of a batch, and a tuple is made several times faster than a frozen
    dataclass)."""

    value: Any
    printed: tuple[str, ...]
    read: frozenset[str] = frozenset()
    """The globals the script read, when the evaluation was asked to note them."""


class _MemoryGate:
    """The memory limit of a Lua state, applied only while Lua code of a script runs.

    lupa allocates Lua memory outside Lua's protected mode when it converts values: the
    objects passed in, and whatever a Python helper returns. An allocation failing there
    hangs or aborts the process. So ``sandbox.lua`` applies the limit right before a script
    runs and lifts it right after, and ``checks.lua`` lifts it around every Python helper
    call; what lupa allocates meanwhile is not limited, and the script's next allocation
    fails instead.
    """

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._ceiling = 0
        self._allowed = 0

    def allow(self, max_memory: int) -> None:
        """Let the next run allocate ``max_memory`` bytes beyond what the state holds now."""
        self._allowed = max_memory
        self._ceiling = self._runtime.get_memory_used() + max_memory

    def rebase(self) -> None:
        """Called from Lua, before `apply`: the allowance counts from what the state holds now
        (a batch's objects, built in Lua after `allow`, do not count against it)."""
        self._ceiling = self._runtime.get_memory_used() + self._allowed

    def apply(self) -> None:
        """Called from Lua: enforce the limit."""
        self._runtime.set_max_memory(self._ceiling, True)

    def lift(self) -> None:
        """Called from Lua: no limit, while lupa converts values."""
        self._runtime.set_max_memory(0)


@dataclass(slots=True)
class _State:
    runtime: Any
    memory: _MemoryGate
    load: Any
    run: Any
    collect: Any
    run_each: Any
    markers: Markers


class Sandbox:
    """Runs scripts under one set of limits; a reusable Lua state per thread."""

    def __init__(self, limits: Limits | None = None, *, reuse_states: bool = True) -> None:
        self.limits = limits or Limits()
        self.reuse_states = reuse_states
        self._local = threading.local()

    def compile(self, source: str, *, name: str) -> Script:
        """Load ``source`` and run its top level once; raise `LuaError` unless it is valid
        text that defines a global function ``evaluate``."""
        if source.startswith("\x1b"):
            raise LuaError(name, "precompiled Lua bytecode is refused; give the script as text")
        script = Script(name, source, hashlib.sha256(source.encode()).hexdigest())
        self._call(script, {}, argument=None)
        return script

    def evaluate(
        self,
        script: Script,
        values: Mapping[str, Any],
        *,
        argument: str,
        note_reads: bool = False,
    ) -> Evaluation:
        """Set ``values`` as globals, call ``evaluate(values[argument])``, convert its result.

        With ``note_reads`` the globals are handed over as the script reads them, and
        `Evaluation.read` names those it read (reading the argument is not reading a global).
        Raises `LuaError` on a runtime error, an exceeded limit, or a result that has no JSON
        form (functions, cycles, non-UTF-8 strings, nesting deeper than 100).
        """
        return self._call(script, values, argument=argument, note_reads=note_reads)

    def evaluate_each(
        self,
        script: Script,
        objects: Sequence[Mapping[str, Any]],
        *,
        argument: str,
        fields: frozenset[str] | None = None,
    ) -> list[Evaluation]:
        """`evaluate` for every object in turn, as the global and argument ``argument``, each
        in a fresh environment under the limits of one evaluation; converted and run in
        batches of `BATCH`, one crossing into Lua each. With ``fields``, only the fields of
        those names go into Lua (`function.lua.reach` says which a script can read). Raises
        `LuaError` for the first object whose evaluation fails."""
        return list(self.each(script, objects, argument=argument, fields=fields))

    def each(
        self,
        script: Script,
        objects: Iterable[Mapping[str, Any]],
        *,
        argument: str,
        fields: frozenset[str] | None = None,
    ) -> Iterator[Evaluation]:
        """`evaluate_each`, lazily: ``objects`` are read, converted and evaluated a batch at a
        time, so no more than a batch of them and of their results is alive at once."""
        batch: list[Mapping[str, Any]] = []
        for obj in objects:
            batch.append(obj)
            if len(batch) == BATCH:
                yield from self._guarded(script, self._run_each, batch, argument, fields)
                batch = []
        if batch:
            yield from self._guarded(script, self._run_each, batch, argument, fields)

    def _run_each(
        self,
        state: _State,
        script: Script,
        objects: Sequence[Mapping[str, Any]],
        argument: str,
        fields: frozenset[str] | None,
    ) -> list[Evaluation]:
        flat = state.runtime.table_from(flatten(objects, fields, state.markers))
        state.memory.allow(self.limits.max_memory)
        encoded, status, value, line = state.run_each(
            script.digest,
            flat,
            len(objects),
            argument,
            self.limits.max_instructions // _TICK,
            self.limits.timeout,
        )
        if status != "ok":
            self._fail(script, status, value, line or None)
        return [
            Evaluation(entry[0], tuple(entry[1]) if len(entry) > 1 else ())
            for entry in json.loads(encoded)
        ]

    def _call(
        self,
        script: Script,
        values: Mapping[str, Any],
        *,
        argument: str | None,
        note_reads: bool = False,
    ) -> Evaluation:
        return self._guarded(script, self._run, values, argument, note_reads)

    def _run(
        self,
        state: _State,
        script: Script,
        values: Mapping[str, Any],
        argument: str | None,
        note_reads: bool,
    ) -> Evaluation:
        lua_globals, lua_inputs, tracked = globals_to_lua(state.runtime, values)
        state.memory.allow(self.limits.max_memory)
        status, value, printed, line, read = state.run(
            script.digest,
            lua_globals,
            lua_inputs,
            argument,
            self.limits.max_instructions // _TICK,
            self.limits.timeout,
            note_reads,
        )
        if status != "ok":
            self._fail(script, status, value, line)
        return Evaluation(from_json(value, tracked), _strings(printed), frozenset(_strings(read)))

    def _guarded(self, script: Script, run: Callable[..., _T], *args: Any) -> _T:
        """``run(state, script, *args)`` on this thread's state with ``script`` loaded; every
        failure becomes a `LuaError` naming the script, and drops the state."""
        state = self._state()
        try:
            syntax_error = state.load(script.digest, script.source)
            if syntax_error is not None:
                self._fail(script, "syntax", syntax_error, None)
            return run(state, script, *args)
        except lua51.LuaMemoryError:
            self._drop_state()
            raise LuaError(script.name, self._memory_reason()) from None
        except UnicodeDecodeError:
            self._drop_state()
            raise LuaError(script.name, "the result holds a string that is not UTF-8") from None
        except LuaError:
            self._drop_state()
            raise

    def _fail(self, script: Script, status: str, value: Any, line: int | None) -> NoReturn:
        if status == "limit":
            raise LuaError(script.name, self._limit_reason(str(value)), line=line)
        message = str(value)
        if message == _OUT_OF_MEMORY:
            raise LuaError(script.name, self._memory_reason())
        position = _POSITION.match(message)
        if position is None:
            raise LuaError(script.name, message)
        reason = position.group(2)
        if status == "syntax":
            reason = f"syntax error: {reason}"
        raise LuaError(script.name, reason, line=int(position.group(1)))

    def _limit_reason(self, which: str) -> str:
        if which == "time":
            return f"ran longer than the time limit ({self.limits.timeout:g}s)"
        return f"ran more than the instruction limit ({self.limits.max_instructions:,})"

    def _memory_reason(self) -> str:
        return f"used more than the memory limit ({self.limits.max_memory / MIB:g} MiB)"

    def _state(self) -> _State:
        if not self.reuse_states:
            return _new_state()
        state: _State | None = getattr(self._local, "state", None)
        if state is None:
            state = _new_state()
            self._local.state = state
        elif state.runtime.get_memory_used() > self.limits.max_memory:
            state.collect()
        return state

    def _drop_state(self) -> None:
        self._local.state = None


def _new_state() -> _State:
    runtime = lua51.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        attribute_handlers=(_refuse_attribute, _refuse_attribute),
        max_memory=0,  # counted, and limited by the gate while scripts run
    )
    memory = _MemoryGate(runtime)
    trusted = runtime.execute('return assert(loadstring(..., "=sandbox"))', _SANDBOX_SOURCE)(
        time.monotonic,
        runtime.table_from({"apply": memory.apply, "lift": memory.lift, "rebase": memory.rebase}),
        runtime.table_from(_HELPER_SOURCES),
        runtime.table_from(python_helpers(runtime)),
    )
    markers = Markers(*(trusted.markers[i] for i in (1, 2, 3)))
    return _State(
        runtime, memory, trusted.load, trusted.run, trusted.collect, trusted.run_each, markers
    )


def _strings(array: Any) -> tuple[str, ...]:
    """A Lua array of strings, in order."""
    return tuple(array[i] for i in range(1, len(array) + 1))


def _refuse_attribute(*_: Any) -> NoReturn:
    raise AttributeError("Python objects are not accessible from Lua")


def _lua_source(name: str) -> str:
    return resources.files("function.lua").joinpath(name).read_text(encoding="utf-8")


_SANDBOX_SOURCE = _lua_source("sandbox.lua")
_HELPER_SOURCES = {
    name: _lua_source(f"{name}.lua")
    for name in ("patterns", "checks", "strings", "helpers", "encode")
}
