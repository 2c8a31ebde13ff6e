-- The helpers Sveltos offers to Lua (libsveltos' LoadModulesAndRegisterMethods): the globals
-- base64Encode, base64Decode, getLabel, getAnnotation, getResource and the modules `json` and
-- `strings` (Go's strings package). Loaded once per Lua state by sandbox.lua, in an
-- environment that holds only the standard functions below; the Python callables behind
-- `json` and the Unicode-aware string functions come from helpers.py and are reachable only
-- through the wrappers here.
local py = ...

local byte, char, find, sub, rep = string.byte, string.char, string.find, string.sub, string.rep
local concat, floor = table.concat, math.floor

-- Argument checks, in the words gopher-lua uses -------------------------------------------
local function check_string(v, n, fname)
  local kind = type(v)
  if kind == "string" then return v end
  if kind == "number" then return tostring(v) end
  error("bad argument #" .. n .. " to '" .. fname .. "' (string expected, got " .. kind .. ")", 3)
end

local function check_int(v, n, fname)
  if type(v) == "number" then return v >= 0 and floor(v) or -floor(-v) end
  error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. type(v) .. ")", 3)
end

local function check(kind, v, n, fname)
  if type(v) ~= kind then
    error("bad argument #" .. n .. " to '" .. fname .. "' (" .. kind .. " expected, got "
      .. type(v) .. ")", 3)
  end
  return v
end

-- A Python helper returns its value, or nil and a message; any other failure (a string that
-- is not UTF-8, for one) becomes nil and a message too.
local function call_python(fn, ...)
  local ok, value, message = pcall(fn, ...)
  if not ok then return nil, "invalid input (not UTF-8 text)" end
  return value, message
end

-- UTF-8 runes, decoded as Go does: an invalid byte is U+FFFD of width 1 -------------------
local function decode_rune(s, i)
  local c = byte(s, i)
  if c < 0x80 then return c, i + 1 end
  local extra, cp
  if c >= 0xC2 and c <= 0xDF then extra, cp = 1, c - 0xC0
  elseif c >= 0xE0 and c <= 0xEF then extra, cp = 2, c - 0xE0
  elseif c >= 0xF0 and c <= 0xF4 then extra, cp = 3, c - 0xF0
  else return 0xFFFD, i + 1 end
  for k = 1, extra do
    local cc = byte(s, i + k)
    if cc == nil or cc < 0x80 or cc > 0xBF then return 0xFFFD, i + 1 end
    cp = cp * 64 + (cc - 0x80)
  end
  return cp, i + extra + 1
end

local function encode_rune(cp)
  if cp < 0 or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then cp = 0xFFFD end
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
    0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

-- Iterates (byte offset from 1, rune, next offset) over s.
local function runes(s)
  local i = 1
  return function()
    if i > #s then return nil end
    local at = i
    local cp
    cp, i = decode_rune(s, at)
    return at, cp, i
  end
end

local function rune_set(chars)
  local set = {}
  for _, cp in runes(chars) do set[cp] = true end
  return set
end

local function rune_count(s)
  local n = 0
  for _ in runes(s) do n = n + 1 end
  return n
end

local function truthy_call(f, cp)
  return f(cp) and true or false
end

-- strings: Go's functions, byte offsets from 0 and -1 for "absent" -------------------------
local strings = {}

local function index(s, substr)
  local at = find(s, substr, 1, true)
  return at and at - 1 or -1
end

local function last_index(s, substr)
  if substr == "" then return #s end
  local last, from = -1, 1
  while true do
    local at = find(s, substr, from, true)
    if at == nil then return last end
    last, from = at - 1, at + 1
  end
end

local function count(s, substr)
  if substr == "" then return rune_count(s) + 1 end
  local n, from = 0, 1
  while true do
    local at = find(s, substr, from, true)
    if at == nil then return n end
    n, from = n + 1, at + #substr
  end
end

local function index_where(s, pred)
  for at, cp in runes(s) do
    if pred(cp) then return at - 1 end
  end
  return -1
end

local function last_index_where(s, pred)
  local last = -1
  for at, cp in runes(s) do
    if pred(cp) then last = at - 1 end
  end
  return last
end

local function trim_left_where(s, pred)
  for at, cp in runes(s) do
    if not pred(cp) then return sub(s, at) end
  end
  return ""
end

local function trim_right_where(s, pred)
  local keep = 0
  for _, cp, after in runes(s) do
    if not pred(cp) then keep = after - 1 end
  end
  return sub(s, 1, keep)
end

local function in_set(chars)
  local set = rune_set(chars)
  return function(cp) return set[cp] == true end
end

local function explode(s, n)
  local parts = {}
  for at, _, after in runes(s) do
    if n > 0 and #parts == n - 1 then
      parts[#parts + 1] = sub(s, at)
      return parts
    end
    parts[#parts + 1] = sub(s, at, after - 1)
  end
  return parts
end

local function split(s, sep, keep_sep, n)
  if n == 0 then return nil end
  if sep == "" then return explode(s, n) end
  if n < 0 then n = count(s, sep) + 1 end
  local parts = {}
  while #parts < n - 1 do
    local at = find(s, sep, 1, true)
    if at == nil then break end
    parts[#parts + 1] = sub(s, 1, at - 1 + (keep_sep and #sep or 0))
    s = sub(s, at + #sep)
  end
  parts[#parts + 1] = s
  return parts
end

local function replace(s, old, new, n)
  if old == new or n == 0 then return s end
  local found = count(s, old)
  if found == 0 then return s end
  if n < 0 or found < n then n = found end
  local out, from = {}, 1
  for i = 1, n do
    local at
    if old == "" then
      at = from
      if i > 1 then at = select(2, decode_rune(s, from)) end
    else
      at = find(s, old, from, true)
    end
    out[#out + 1] = sub(s, from, at - 1)
    out[#out + 1] = new
    from = at + #old
  end
  out[#out + 1] = sub(s, from)
  return concat(out)
end

local function two_strings(fname, body)
  return function(a, b)
    return body(check_string(a, 1, fname), check_string(b, 2, fname))
  end
end

local function string_and_func(fname, body)
  return function(s, f)
    return body(check_string(s, 1, fname), check("function", f, 2, fname))
  end
end

local function unicode(fname, py_fn)
  return function(s)
    local result = call_python(py_fn, check_string(s, 1, fname))
    if result == nil then error(fname .. ": the string is not UTF-8 text", 2) end
    return result
  end
end

strings.Compare = two_strings("Compare", function(a, b)
  if a == b then return 0 end
  return a < b and -1 or 1
end)
strings.Contains = two_strings("Contains", function(s, substr)
  return find(s, substr, 1, true) ~= nil
end)
strings.ContainsAny = two_strings("ContainsAny", function(s, chars)
  return index_where(s, in_set(chars)) >= 0
end)
strings.ContainsRune = function(s, r)
  return find(check_string(s, 1, "ContainsRune"), encode_rune(check_int(r, 2, "ContainsRune")),
    1, true) ~= nil
end
strings.Count = two_strings("Count", count)
strings.EqualFold = function(a, b)
  local result = call_python(py.equal_fold, check_string(a, 1, "EqualFold"),
    check_string(b, 2, "EqualFold"))
  return result == true
end
strings.Fields = unicode("Fields", py.fields)
strings.FieldsFunc = string_and_func("FieldsFunc", function(s, f)
  local fields, start = {}, nil
  for at, cp in runes(s) do
    if truthy_call(f, cp) then
      if start then fields[#fields + 1] = sub(s, start, at - 1) end
      start = nil
    elseif start == nil then
      start = at
    end
  end
  if start then fields[#fields + 1] = sub(s, start) end
  return fields
end)
strings.HasPrefix = two_strings("HasPrefix", function(s, prefix)
  return sub(s, 1, #prefix) == prefix
end)
strings.HasSuffix = two_strings("HasSuffix", function(s, suffix)
  return suffix == "" or sub(s, -#suffix) == suffix
end)
strings.Index = two_strings("Index", index)
strings.IndexAny = two_strings("IndexAny", function(s, chars)
  return index_where(s, in_set(chars))
end)
strings.IndexByte = function(s, c)
  return index(check_string(s, 1, "IndexByte"), char(check_int(c, 2, "IndexByte") % 256))
end
strings.IndexFunc = string_and_func("IndexFunc", function(s, f)
  return index_where(s, function(cp) return truthy_call(f, cp) end)
end)
strings.IndexRune = function(s, r)
  return index(check_string(s, 1, "IndexRune"), encode_rune(check_int(r, 2, "IndexRune")))
end
strings.Join = function(list, sep)
  check("table", list, 1, "Join")
  local parts = {}
  for _, v in ipairs(list) do
    if type(v) == "string" then parts[#parts + 1] = v end
  end
  return concat(parts, check_string(sep, 2, "Join"))
end
strings.LastIndex = two_strings("LastIndex", last_index)
strings.LastIndexAny = two_strings("LastIndexAny", function(s, chars)
  return last_index_where(s, in_set(chars))
end)
strings.LastIndexByte = function(s, c)
  return last_index(check_string(s, 1, "LastIndexByte"),
    char(check_int(c, 2, "LastIndexByte") % 256))
end
strings.LastIndexFunc = string_and_func("LastIndexFunc", function(s, f)
  return last_index_where(s, function(cp) return truthy_call(f, cp) end)
end)
strings.Map = function(f, s)
  check("function", f, 1, "Map")
  local out = {}
  for _, cp in runes(check_string(s, 2, "Map")) do
    local mapped = f(cp)
    if type(mapped) == "number" and mapped >= 0 then out[#out + 1] = encode_rune(mapped) end
  end
  return concat(out)
end
strings.Repeat = function(s, n)
  n = check_int(n, 2, "Repeat")
  if n < 0 then error("strings: negative Repeat count", 2) end
  return rep(check_string(s, 1, "Repeat"), n)
end
strings.Replace = function(s, old, new, n)
  return replace(check_string(s, 1, "Replace"), check_string(old, 2, "Replace"),
    check_string(new, 3, "Replace"), check_int(n, 4, "Replace"))
end
strings.ReplaceAll = function(s, old, new)
  return replace(check_string(s, 1, "ReplaceAll"), check_string(old, 2, "ReplaceAll"),
    check_string(new, 3, "ReplaceAll"), -1)
end
strings.Split = two_strings("Split", function(s, sep) return split(s, sep, false, -1) end)
strings.SplitAfter = two_strings("SplitAfter", function(s, sep)
  return split(s, sep, true, -1)
end)
strings.SplitN = function(s, sep, n)
  return split(check_string(s, 1, "SplitN"), check_string(sep, 2, "SplitN"), false,
    check_int(n, 3, "SplitN"))
end
strings.SplitAfterN = function(s, sep, n)
  return split(check_string(s, 1, "SplitAfterN"), check_string(sep, 2, "SplitAfterN"), true,
    check_int(n, 3, "SplitAfterN"))
end
strings.Title = unicode("Title", py.title)
strings.ToLower = unicode("ToLower", py.lower)
strings.ToTitle = unicode("ToTitle", py.upper)
strings.ToUpper = unicode("ToUpper", py.upper)
strings.Trim = two_strings("Trim", function(s, cutset)
  local pred = in_set(cutset)
  return trim_right_where(trim_left_where(s, pred), pred)
end)
strings.TrimFunc = string_and_func("TrimFunc", function(s, f)
  local pred = function(cp) return truthy_call(f, cp) end
  return trim_right_where(trim_left_where(s, pred), pred)
end)
strings.TrimLeft = two_strings("TrimLeft", function(s, cutset)
  return trim_left_where(s, in_set(cutset))
end)
strings.TrimLeftFunc = string_and_func("TrimLeftFunc", function(s, f)
  return trim_left_where(s, function(cp) return truthy_call(f, cp) end)
end)
strings.TrimPrefix = two_strings("TrimPrefix", function(s, prefix)
  if prefix ~= "" and sub(s, 1, #prefix) == prefix then return sub(s, #prefix + 1) end
  return s
end)
strings.TrimRight = two_strings("TrimRight", function(s, cutset)
  return trim_right_where(s, in_set(cutset))
end)
strings.TrimRightFunc = string_and_func("TrimRightFunc", function(s, f)
  return trim_right_where(s, function(cp) return truthy_call(f, cp) end)
end)
strings.TrimSpace = unicode("TrimSpace", py.trim_space)
strings.TrimSuffix = two_strings("TrimSuffix", function(s, suffix)
  if suffix ~= "" and sub(s, -#suffix) == suffix then return sub(s, 1, #s - #suffix) end
  return s
end)

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
