-- The trusted side of the sandbox: runs once in every Lua state, with the full standard
-- library, before any user code. It keeps what user code must not reach (debug, loadstring,
-- setfenv, the clock) in upvalues and hands back the few functions runtime.py calls.
-- User scripts only ever see the environment built by new_env() below.
local clock, memory, helper_sources, python_helpers = ...

local sethook, getinfo, loadstring, setfenv = debug.sethook, debug.getinfo, loadstring, setfenv
local error, next, pcall, rawget, rawset, select = error, next, pcall, rawget, rawset, select
local tostring, type = tostring, type
local setmetatable, getmetatable, unpack = setmetatable, getmetatable, unpack
local coroutine_create, coroutine_resume = coroutine.create, coroutine.resume

local TICK = 1000 -- instructions between two calls of the limit hook
local MAX_DEPTH = 100 -- nesting of a result; deeper tables are refused
local MAX_PRINTED = 100 -- lines of print() output kept per evaluation
local INPUT_REF = "\0input" -- key of the marker that stands for an input object in a result

-- Strings keep their methods (("x"):upper()) but hide their metatable and, through it,
-- the real string library.
getmetatable("").__metatable = false

-- string.rep loops in C, out of the hook's reach; repeating "" allocates nothing, so no limit
-- would ever stop ("").rep("", 2^52). Every other repetition is bounded by the memory limit.
local raw_rep = string.rep
function string.rep(s, n)
  if type(s) == "string" and s == "" and type(n) == "number" then return "" end
  return raw_rep(s, n)
end

-- Pattern matching runs in C, out of the hook's reach too, and backtracks: patterns.lua
-- refuses a match whose worst case is too long before it runs. The helpers keep the raw
-- functions: they match only their own patterns.
local raw_string = {}
for name, fn in next, string do raw_string[name] = fn end
local pattern_guards = assert(loadstring(helper_sources.patterns, "=patterns"))
setfenv(pattern_guards, { error = error, tostring = tostring, type = type })
for name, fn in next, pattern_guards(raw_string) do string[name] = fn end

python = nil
package.loaded.python = nil

-- Whitelisted globals --------------------------------------------------------------------
local BASE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawset",
  "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION",
}
local LIBRARIES = {
  string = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
             "rep", "reverse", "sub", "upper" },
  table = { "concat", "insert", "maxn", "remove", "sort" },
  math = { "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg", "exp",
           "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "modf",
           "pi", "pow", "rad", "random", "randomseed", "sin", "sinh", "sqrt", "tan", "tanh" },
  os = { "clock", "date", "difftime", "time" },
}

local function pick(from, names)
  local picked = {}
  for _, name in ipairs(names) do picked[name] = from[name] end
  return picked
end

local function copy(t)
  local c = {}
  for k, v in next, t do c[k] = v end
  return c
end

local base = pick(_G, BASE)
local libraries = {}
for name, members in next, LIBRARIES do libraries[name] = pick(_G[name], members) end

-- Limits: a count hook on every coroutine; once tripped it fires on every instruction and
-- raises in any code but this file's and patterns.lua's, so a script that catches the error
-- with pcall cannot keep running, and the trusted code finishes its work before reporting the
-- overrun.
local UNSTOPPED = { ["=sandbox"] = true, ["=patterns"] = true }
local ticks, deadline, exceeded, stopped_at = 0, 0, nil, nil
local timeout_after = 0 -- seconds; the deadline is set from it on the first tick if it is nil

local function limit_hook()
  if exceeded == nil then
    ticks = ticks - 1
    if deadline == nil then deadline = clock() + timeout_after end
    if ticks >= 0 and clock() <= deadline then return end
    exceeded = ticks < 0 and "instructions" or "time"
    local where = getinfo(2, "Sl")
    if where.source == "=script" then stopped_at = where.currentline end
    sethook(limit_hook, "", 1)
  end
  if not UNSTOPPED[getinfo(2, "S").source] then
    error("evaluation stopped: " .. exceeded .. " limit exceeded", 2)
  end
end

local function sandboxed_create(f)
  local co = coroutine_create(f)
  sethook(co, limit_hook, "", TICK)
  return co
end

local function sandboxed_wrap(f)
  local co = sandboxed_create(f)
  local function pass(ok, ...)
    if not ok then error((...), 2) end
    return ...
  end
  return function(...) return pass(coroutine_resume(co, ...)) end
end

libraries.coroutine = {
  create = sandboxed_create, wrap = sandboxed_wrap, resume = coroutine.resume,
  running = coroutine.running, status = coroutine.status, yield = coroutine.yield,
}

-- Sveltos' helpers, defined once per state in an environment of their own: checks.lua,
-- then strings.lua, then helpers.lua, each given what the previous ones returned.
local helper_env = {
  string = pick(raw_string, LIBRARIES.string), table = libraries.table, math = libraries.math,
  error = error, ipairs = ipairs, next = next, pcall = pcall, rawget = rawget,
  select = select, tostring = tostring, type = type, unpack = unpack,
}

local function load_helper(name, ...)
  local chunk = assert(loadstring(helper_sources[name], "=" .. name))
  setfenv(chunk, helper_env)
  return chunk(...)
end

local checks = load_helper("checks", memory)
local helpers = load_helper("helpers", python_helpers, checks,
  load_helper("strings", python_helpers, checks))

-- A fresh environment per evaluation, built lazily: an empty table whose metatable serves
-- the whitelisted functions (shared: functions cannot be changed) and creates the
-- evaluation's own values on first read: copies of the library tables and of required
-- modules, and print, require and getmetatable bound to this evaluation. Nothing is ever
-- shared between two environments but functions. A name the script assigns is its own from
-- then on (even if it assigns nil); reading _G puts every global in the table itself, so
-- neither pairs(_G) nor setmetatable(_G, ...) can tell the difference. fallback(env, name)
-- is asked first for names the environment lacks (hand_over_on_read's globals).
-- The metatable is the evaluation's record: its fields (fallback, and what is created on
-- demand: printed, made, assigned, whole) serve the two shared metamethods, so an
-- environment costs two tables, and a script that only defines evaluate() adds nothing.
local shared_globals = copy(base)
for name, fn in next, helpers.globals do shared_globals[name] = fn end
local OWN_NAMES = { "print", "require", "getmetatable" }
for name in next, libraries do OWN_NAMES[#OWN_NAMES + 1] = name end
-- The names the metatable serves: an assignment to any other name needs no note, since
-- the metatable answers nil for it whether it was assigned or not.
local SERVED = copy(shared_globals)
for _, name in ipairs(OWN_NAMES) do SERVED[name] = true end
SERVED._G = true

-- The evaluation's own value for a global name: created on first read, kept in own.made.
local function make(name, own)
  local shared = libraries[name]
  if shared ~= nil then return copy(shared) end
  if name == "print" then
    local printed = {}
    own.printed = printed
    return function(...)
      if #printed < MAX_PRINTED then
        local parts = {}
        for i = 1, select("#", ...) do
          local v = select(i, ...)
          parts[i] = type(v) == "string" and v or type(v) == "number" and tostring(v)
            or type(v) == "boolean" and tostring(v) or type(v) == "nil" and "nil" or type(v)
        end
        printed[#printed + 1] = table.concat(parts, "\t")
      end
    end
  elseif name == "require" then
    local modules = {}
    return function(module_name)
      local module = modules[module_name]
      if module == nil then
        local shared_module = helpers.modules[module_name]
        if shared_module == nil then
          error("module '" .. tostring(module_name) .. "' not found", 2)
        end
        module = copy(shared_module)
        modules[module_name] = module
      end
      return module
    end
  elseif name == "getmetatable" then
    return function(v)
      if type(v) ~= "table" then return nil end
      local mt = getmetatable(v)
      if mt == own then return nil end
      return mt
    end
  end
  return nil
end

local function made_value(own, name)
  local made = own.made
  if made == nil then
    made = {}
    own.made = made
  end
  local value = made[name]
  if value == nil then
    value = make(name, own)
    made[name] = value
  end
  return value
end

local function env_index(t, name)
  local own = getmetatable(t)
  local fallback = own.fallback
  if fallback ~= nil then
    local value = fallback(t, name)
    if value ~= nil then return value end
  end
  if own.whole then return nil end
  local assigned = own.assigned
  if assigned ~= nil and assigned[name] then return nil end
  local value = shared_globals[name]
  if value ~= nil then return value end
  if name == "_G" then
    own.whole = true
    assigned = assigned or {}
    for global, fn in next, shared_globals do
      if not assigned[global] then rawset(t, global, fn) end
    end
    for _, global in ipairs(OWN_NAMES) do
      if not assigned[global] then rawset(t, global, made_value(own, global)) end
    end
    rawset(t, "_G", t)
    return t
  end
  return made_value(own, name)
end

local function env_newindex(t, name, value)
  if SERVED[name] then
    local own = getmetatable(t)
    local assigned = own.assigned
    if assigned == nil then
      assigned = {}
      own.assigned = assigned
    end
    assigned[name] = true
  end
  rawset(t, name, value)
end

-- new_env(fallback) -> env, own: own.printed is what the evaluation printed (nil if nothing).
local function new_env(fallback)
  local own = { __index = env_index, __newindex = env_newindex, fallback = fallback }
  return setmetatable({}, own), own
end

-- Results are encoded as JSON by encode.lua, with raw access only.
local codec = load_helper("encode", MAX_DEPTH, INPUT_REF)
local encode, json_string, concat = codec.encode, codec.string, table.concat

local function error_text(e)
  if type(e) == "string" then return e end
  return "error object is a " .. type(e)
end

local chunks, cached = {}, 0
local MAX_CACHED = 256

-- load(digest, source) -> nil, or the syntax error: compiles a script into the cache.
local function load(digest, source)
  if chunks[digest] ~= nil then return nil end
  if string.byte(source, 1) == 27 then return "precompiled bytecode is refused" end
  local chunk, err = loadstring(source, "=script")
  if chunk == nil then return err end
  if cached >= MAX_CACHED then chunks, cached = {}, 0 end
  chunks[digest], cached = chunk, cached + 1
  return nil
end

-- A probing evaluation hands the globals over only when the script reads them, and notes
-- which ones it read: health.py learns from it whether a script is written for `obj` or for
-- `resources`. A read global is then stored in the environment, so it is noted only once.
local function hand_over_on_read(globals, read)
  return function(t, name)
    local value = globals[name]
    if value ~= nil then
      read[#read + 1] = name
      rawset(t, name, value)
    end
    return value
  end
end

local function evaluate_in(chunk, env, argument)
  chunk()
  local evaluate = rawget(env, "evaluate")
  if type(evaluate) ~= "function" then
    error("the script defines no global function evaluate()", 0)
  end
  if argument == nil then return nil end
  return evaluate(argument)
end

-- run(digest, globals, inputs, argument_name, max_ticks, timeout, note_reads)
--   -> status, value, printed, line, read
-- runs a loaded script: status is "ok" (value: the result as JSON), "error" (value: the
-- message), or "limit" (value: "instructions" or "time"; line: where the script was
-- stopped). With no argument name the script's top level runs and must define evaluate().
-- With note_reads, read lists the globals the script read (see hand_over_on_read).
local function run(digest, globals, inputs, argument_name, max_ticks, timeout, note_reads)
  local chunk = chunks[digest]
  local read = {}
  local env, own = new_env(note_reads and hand_over_on_read(globals, read) or nil)
  if not note_reads then
    for name, value in next, globals do rawset(env, name, value) end
  end
  local origins = {}
  for i = 1, #inputs do origins[inputs[i]] = i end
  setfenv(chunk, env)
  local argument = argument_name and globals[argument_name]
  local status = "ok"
  local function protected()
    local result = evaluate_in(chunk, env, argument)
    if argument_name == nil then return nil end
    local out = {}
    encode(result, out, 0, origins, {}, 0)
    return concat(out)
  end
  ticks, deadline, exceeded, stopped_at = max_ticks, clock() + timeout, nil, nil
  memory.apply()
  sethook(limit_hook, "", TICK)
  local ok, value = xpcall(protected, error_text)
  sethook()
  memory.lift()
  if exceeded ~= nil then
    status, value = "limit", exceeded
  elseif not ok then
    status = "error"
  end
  return status, value, own.printed or {}, stopped_at, read
end

-- Objects come into a batch flattened (convert.py's flatten): a table is TABLE, its keys each
-- followed by the value, then END; a list is LIST, its elements, then END. build turns them
-- back into tables here, where making a table is cheap, before any script runs.
local TABLE, LIST, END = {}, {}, {}

-- The table or list whose marker is at flat[i - 1], and the index after its END.
local function build_from(flat, i, list)
  local t, n = {}, 0
  while true do
    local k, v = flat[i], nil
    if k == END then return t, i + 1 end
    if list then
      n = n + 1
      k, v = n, k
    else
      i = i + 1
      v = flat[i]
    end
    if v == TABLE then
      v, i = build_from(flat, i + 1, false)
    elseif v == LIST then
      v, i = build_from(flat, i + 1, true)
    else
      i = i + 1
    end
    t[k] = v
  end
end

local function build(flat, count)
  local objects, i = {}, 1
  for n = 1, count do
    if flat[i] ~= TABLE then error("object " .. n .. " of the batch is not a table", 0) end
    objects[n], i = build_from(flat, i + 1, false)
  end
  return objects
end

-- run_each(digest, flat, count, argument_name, max_ticks, timeout) -> encoded, status, value,
-- line runs a loaded script once for each of the count objects flattened in flat, each in a
-- fresh environment with the object as the global argument_name and as evaluate's argument,
-- under the limits of one evaluation each: what run() does for one object, with one crossing
-- for the batch. The objects are built before the memory limit is applied, from where the
-- state then stands (memory.rebase), so they do not count against it, as run()'s globals do
-- not. encoded is a JSON array with one entry per evaluation, [result] or [result,
-- [printed...]]. It stops at the first object whose evaluation fails: encoded ends before it,
-- and status, value and line are that evaluation's, as run() returns them (status "ok" if
-- none failed).
local function run_each(digest, flat, count, argument_name, max_ticks, timeout)
  local chunk = chunks[digest]
  local built, objects = pcall(build, flat, count)
  if not built then return "[]", "error", error_text(objects), nil end
  local out, n, no_origins, visiting = { "[" }, 1, {}, {}
  local status, value, line = "ok", nil, nil
  local env, argument, mark
  local function protected()
    out[mark + 1] = mark > 1 and ",[" or "["
    n = encode(evaluate_in(chunk, env, argument), out, mark + 1, no_origins, visiting, 0)
  end
  timeout_after = timeout
  memory.rebase()
  memory.apply()
  for i = 1, count do
    argument = objects[i]
    objects[i] = nil
    local own
    env, own = new_env(nil)
    rawset(env, argument_name, argument)
    setfenv(chunk, env)
    mark = n
    -- the clock is read from the first tick on: an evaluation shorter than a tick (most)
    -- never calls out of Lua for it
    ticks, deadline, exceeded, stopped_at = max_ticks, nil, nil, nil
    sethook(limit_hook, "", TICK)
    local ok, err = xpcall(protected, error_text)
    sethook()
    if exceeded ~= nil then
      status, value, line = "limit", exceeded, stopped_at
    elseif not ok then
      status, value = "error", err
    end
    if status ~= "ok" then
      n = mark
      break
    end
    local printed = own.printed
    if printed ~= nil and #printed > 0 then
      n = n + 1
      out[n] = ",["
      for j = 1, #printed do
        n = n + 1
        out[n] = (j > 1 and "," or "") .. json_string(printed[j])
      end
      n = n + 1
      out[n] = "]"
    end
    n = n + 1
    out[n] = "]"
  end
  memory.lift()
  n = n + 1
  out[n] = "]"
  return concat(out, "", 1, n), status, value, line
end

return {
  load = load, run = run, run_each = run_each, collect = function() collectgarbage() end,
  markers = { TABLE, LIST, END },
}
