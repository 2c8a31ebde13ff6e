-- Results out of Lua, as JSON: trusted, loaded once per state by sandbox.lua. A result is
-- read with raw access only (no metamethod of the script runs outside the limits) and
-- written as JSON following Sveltos' conversion (ToGoValue, then JSON): a table with a
-- non-empty array part is an array of t[1..#t] (a hole is null), any other table (the empty
-- one included) an object with string keys; whole numbers below 2^63 are integers, NaN and
-- the infinities are written as Python's JSON decoder reads them. An input object
-- (origins[v], its position among the inputs) is written as {"\u0000input": n}. One string
-- crosses back into Python per evaluation or batch, where the C decoder reads it.
local MAX_DEPTH, INPUT_REF = ...

local byte, format, gsub = string.byte, string.format, string.gsub
local floor, huge = math.floor, math.huge

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape(c) return ESCAPES[c] or format("\\u%04x", byte(c)) end
local function quote(s) return '"' .. (gsub(s, '[%z\1-\31"\\]', escape)) .. '"' end

local function number(v)
  if v ~= v then return "NaN" end
  if v == huge then return "Infinity" end
  if v == -huge then return "-Infinity" end
  if v == floor(v) and v > -2^63 and v < 2^63 then return format("%.0f", v) end
  return format("%.17g", v)
end

-- Keys repeat from one result to the next ("matching", "message", "status"), and so do
-- short strings ("3/4 replicas available"): their quoted form is kept, up to MAX_KEPT of each
-- (a quote costs a pattern match over the string; a kept one, a table read).
local MAX_KEPT, MAX_KEPT_LENGTH = 4096, 64
local keys, key_count, strings, string_count = {}, 0, {}, 0
local function key(k)
  local quoted = quote(k) .. ":"
  if key_count >= MAX_KEPT then keys, key_count = {}, 0 end
  keys[k], key_count = quoted, key_count + 1
  return quoted
end

local function short_string(s)
  local quoted = quote(s)
  if #s <= MAX_KEPT_LENGTH then
    if string_count >= MAX_KEPT then strings, string_count = {}, 0 end
    strings[s], string_count = quoted, string_count + 1
  end
  return quoted
end

local INPUT_OPEN = "{" .. key(INPUT_REF)

-- encode(v, out, n, origins, visiting, depth) -> n: writes v's JSON into out after its
-- first n pieces, and returns how many pieces out then holds.
local function encode(v, out, n, origins, visiting, depth)
  local kind = type(v)
  if kind == "string" then
    n = n + 1
    out[n] = strings[v] or short_string(v)
  elseif kind == "number" then
    n = n + 1
    out[n] = number(v)
  elseif kind == "boolean" then
    n = n + 1
    out[n] = v and "true" or "false"
  elseif kind == "nil" then
    n = n + 1
    out[n] = "null"
  elseif kind ~= "table" then
    error("the result holds a " .. kind .. ", which has no JSON form", 0)
  elseif origins[v] ~= nil then
    n = n + 1
    out[n] = INPUT_OPEN .. origins[v] .. "}"
  else
    if visiting[v] then error("the result holds a table that contains itself", 0) end
    if depth > MAX_DEPTH then error("the result is nested deeper than " .. MAX_DEPTH, 0) end
    visiting[v] = true
    local length = #v
    if length > 0 then
      for i = 1, length do
        n = n + 1
        out[n] = i > 1 and "," or "["
        n = encode(rawget(v, i), out, n, origins, visiting, depth + 1)
      end
      n = n + 1
      out[n] = "]"
    else
      local open = "{"
      for k, item in next, v do
        local key_kind = type(k)
        if key_kind == "number" or key_kind == "boolean" then
          k = tostring(k)
        elseif key_kind ~= "string" then
          error("the result has a " .. key_kind .. " as a key", 0)
        end
        n = n + 1
        out[n] = open .. (keys[k] or key(k))
        open = ","
        n = encode(item, out, n, origins, visiting, depth + 1)
      end
      n = n + 1
      out[n] = open == "{" and "{}" or "}"
    end
    visiting[v] = nil
  end
  return n
end

return { encode = encode, string = quote }
