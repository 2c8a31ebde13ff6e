-- Argument checks shared by the helper modules (strings.lua, helpers.lua), in the words
-- gopher-lua uses, and the one way they call a Python callable of helpers.py. Loaded once per
-- Lua state by sandbox.lua, which passes the memory gate of runtime.py.
local memory = ...
local floor = math.floor

local checks = {}

function checks.string(v, n, fname)
  local kind = type(v)
  if kind == "string" then return v end
  if kind == "number" then return tostring(v) end
  error("bad argument #" .. n .. " to '" .. fname .. "' (string expected, got " .. kind .. ")", 3)
end

function checks.int(v, n, fname)
  if type(v) == "number" then return v >= 0 and floor(v) or -floor(-v) end
  error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. type(v) .. ")", 3)
end

function checks.kind(kind, v, n, fname)
  if type(v) ~= kind then
    error("bad argument #" .. n .. " to '" .. fname .. "' (" .. kind .. " expected, got "
      .. type(v) .. ")", 3)
  end
  return v
end

-- A Python helper returns its value, or nil and a message; any other failure (a string that
-- is not UTF-8, for one) becomes nil and a message too. The memory limit is lifted while it
-- runs: lupa must not run out of memory while it converts values for Python.
function checks.python(fn, ...)
  memory.lift()
  local ok, value, message = pcall(fn, ...)
  memory.apply()
  if not ok then return nil, "invalid input (not UTF-8 text)" end
  return value, message
end

return checks
