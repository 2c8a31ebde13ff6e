-- Go's strings package for Lua scripts (`local strings = require("strings")`), as Sveltos'
-- glua-strings module offers it: byte offsets from 0, -1 for "absent", runes as code points.
-- Byte-level functions are Lua; Unicode case mapping and white space come from helpers.py.
-- Loaded once per Lua state by sandbox.lua.
local py, checks = ...

local byte, char, find, sub, rep = string.byte, string.char, string.find, string.sub, string.rep
local concat, floor = table.concat, math.floor
local check_string, check_int, check, call_python = checks.string, checks.int, checks.kind,
  checks.python

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

return strings
