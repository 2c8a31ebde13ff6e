-- The helpers Sveltos offers to Lua (libsveltos' LoadModulesAndRegisterMethods): the globals
-- base64Encode, base64Decode, getLabel, getAnnotation, getResource and the modules `json` and
-- `strings` (strings.lua). Loaded once per Lua state by sandbox.lua; the Python callables
-- behind `json` come from helpers.py and are reachable only through the wrappers here.
local py, checks, strings = ...

local byte, char, sub = string.byte, string.char, string.sub
local concat, floor = table.concat, math.floor
local check_string, check, call_python = checks.string, checks.kind, checks.python

-- json: encode/decode as Go's encoding/json does, and YAML through JSON --------------------
-- A value is made ready for Python with raw access only; tables are checked the way
-- gopher-json checks them: an empty table is an array, keys are all strings (an object) or
-- exactly 1..n (an array).
local MAX_JSON_DEPTH = 200

local function json_ready(v, visiting, depth)
  if type(v) ~= "table" then return v end
  if visiting[v] then error("cannot encode recursively nested tables to JSON", 0) end
  if depth > MAX_JSON_DEPTH then error("cannot encode tables nested this deeply", 0) end
  visiting[v] = true
  local strings_seen, numbers_seen = false, 0
  for key in next, v do
    if type(key) == "string" then
      strings_seen = true
    elseif type(key) == "number" then
      numbers_seen = numbers_seen + 1
    else
      error("cannot encode mixed or invalid key types", 0)
    end
  end
  if strings_seen and numbers_seen > 0 then error("cannot encode mixed or invalid key types", 0) end
  local ready = {}
  if numbers_seen > 0 then
    for i = 1, numbers_seen do
      local item = rawget(v, i)
      if item == nil then error("cannot encode sparse array", 0) end
      ready[i] = json_ready(item, visiting, depth + 1)
    end
  else
    for key, item in next, v do ready[key] = json_ready(item, visiting, depth + 1) end
  end
  visiting[v] = nil
  return ready
end

local function encoder(fname, py_fn)
  return function(...)
    if select("#", ...) == 0 then
      error("bad argument #1 to '" .. fname .. "' (value expected)", 2)
    end
    local v = ...
    local kind = type(v)
    if kind == "function" or kind == "userdata" or kind == "thread" then
      return nil, "cannot encode " .. kind .. " to JSON"
    end
    local ok, ready = pcall(json_ready, v, {}, 0)
    if not ok then return nil, ready end
    return call_python(py_fn, ready)
  end
end

local function decoder(fname, py_fn)
  return function(s)
    return call_python(py_fn, check_string(s, 1, fname))
  end
end

local json = {
  decode = decoder("decode", py.json_decode),
  encode = encoder("encode", py.json_encode),
  fromYAML = decoder("fromYAML", py.yaml_decode),
  toYAML = encoder("toYAML", py.yaml_encode),
}

-- base64 (Go's StdEncoding: padded; line breaks are ignored when decoding) ----------------
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local SEXTET = {}
for i = 1, 64 do SEXTET[byte(ALPHABET, i)] = i - 1 end

local function base64_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local quad = {
      floor(n / 262144) % 64 + 1, floor(n / 4096) % 64 + 1, floor(n / 64) % 64 + 1, n % 64 + 1,
    }
    out[#out + 1] = sub(ALPHABET, quad[1], quad[1]) .. sub(ALPHABET, quad[2], quad[2])
      .. (b and sub(ALPHABET, quad[3], quad[3]) or "=")
      .. (c and sub(ALPHABET, quad[4], quad[4]) or "=")
  end
  return concat(out)
end

local function base64_decode(s)
  s = string.gsub(s, "[\r\n]", "")
  if #s % 4 ~= 0 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local a, b, c, d = byte(s, i, i + 3)
    local last = i + 3 == #s
    local pad = (last and d == 61) and ((c == 61) and 2 or 1) or 0
    a, b = SEXTET[a], SEXTET[b]
    c = pad == 2 and 0 or SEXTET[c]
    d = pad >= 1 and 0 or SEXTET[d]
    if a == nil or b == nil or c == nil or d == nil then return nil end
    local n = a * 262144 + b * 4096 + c * 64 + d
    out[#out + 1] = char(floor(n / 65536), floor(n / 256) % 256, n % 256)
    if pad > 0 then out[#out] = sub(out[#out], 1, 3 - pad) end
  end
  return concat(out)
end

local function base64(fname, convert, failure)
  return function(s)
    s = check_string(s, 1, fname)
    if s == "" then return nil, "provided string is empty" end
    local converted = convert(s)
    if converted == nil then return nil, failure end
    return converted
  end
end

-- Object helpers ---------------------------------------------------------------------------
local function metadata_string(field, fname)
  return function(...)
    if select("#", ...) ~= 2 then return nil, "expected 2 arguments (table, key)" end
    local obj, key = ...
    check("table", obj, 1, fname)
    key = check_string(key, 2, fname)
    local metadata = rawget(obj, "metadata")
    local values = type(metadata) == "table" and rawget(metadata, field)
    local value = type(values) == "table" and rawget(values, key)
    if type(value) == "string" then return value end
    return nil
  end
end

local function get_resource(...)
  if select("#", ...) ~= 2 then return nil, "expected 2 arguments (table, key)" end
  local resources, key = ...
  check("table", resources, 1, "getResource")
  return rawget(resources, check_string(key, 2, "getResource"))
end

return {
  globals = {
    base64Encode = base64("base64Encode", base64_encode, "encoding failed"),
    base64Decode = base64("base64Decode", base64_decode, "decoding failed"),
    getLabel = metadata_string("labels", "getLabel"),
    getAnnotation = metadata_string("annotations", "getAnnotation"),
    getResource = get_resource,
  },
  modules = { json = json, strings = strings },
}
