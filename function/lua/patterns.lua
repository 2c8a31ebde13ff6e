-- Pattern matching with a bound: trusted, loaded once per state by sandbox.lua, which puts
-- what this returns in the string library in place of find, match, gmatch and gsub.
-- Matching runs in C, out of the limit hook's reach, and backtracks: ("a?"):rep(40) against
-- 40 a's, or "a*b" against a megabyte of a's, would run for hours. Before a script's find,
-- match, gmatch or gsub runs, the worst case of its pattern on its subject is estimated
-- — (subject length + 1) for an unanchored start and for every *, +, - and %b item but a last
-- one (nothing after it can fail and make it backtrack), 2 for every ? — and a match that
-- could take more than MAX_MATCH_STEPS steps is refused. Ordinary patterns (a version, a
-- prefix, a trim) on Kubernetes field values stay far below it. raw_string is the string
-- library as it was before: the functions called here, and those the guards call at last.
local raw_string = ...

local MAX_MATCH_STEPS = 1e8
local format, sub = raw_string.format, raw_string.sub

local function class_end(p, i, len)
  local c = p:byte(i)
  i = i + 1
  if c == 37 then return i + 1 end -- %x
  if c == 91 then -- [set]
    if p:byte(i) == 94 then i = i + 1 end
    repeat
      if i > len then return len + 1 end -- malformed: the C matcher reports it
      local ch = p:byte(i)
      i = i + 1
      if ch == 37 then i = i + 1 end
    until p:byte(i) == 93
    return i + 1
  end
  return i
end

-- Whether nothing but closing captures and a final $ follows position i of pattern p.
local function last_item(p, i, len)
  while i <= len do
    local c = p:byte(i)
    if c ~= 41 and not (c == 36 and i == len) then return false end
    i = i + 1
  end
  return true
end

local function match_steps(subject_len, p, repeated)
  local n = subject_len + 1
  local steps, i, len = 1, 1, #p
  if p:byte(1) == 94 and not repeated then i = 2 else steps = n end
  while i <= len do
    local c = p:byte(i)
    if c == 40 or c == 41 then -- ( )
      i = i + 1
    elseif c == 36 and i == len then -- $ at the end
      i = i + 1
    elseif c == 37 and p:byte(i + 1) == 98 then -- %bxy
      steps, i = steps * n, i + 4
    elseif c == 37 and p:byte(i + 1) == 102 then -- %f[set]
      i = class_end(p, i + 2, len)
    else
      i = class_end(p, i, len)
      local q = p:byte(i)
      if q == 63 then -- ?
        steps, i = steps * 2, i + 1
      elseif q == 42 or q == 43 or q == 45 then -- * + -
        i = i + 1
        if not last_item(p, i, len) then steps = steps * n end
      end
    end
    if steps > MAX_MATCH_STEPS then return steps end
  end
  return steps
end

local function guarded(name, repeated)
  local raw = raw_string[name]
  return function(s, p, init, plain, ...)
    if not plain or name == "gsub" then
      local subject = type(s) == "number" and tostring(s) or s
      local pattern = type(p) == "number" and tostring(p) or p
      if type(subject) == "string" and type(pattern) == "string"
          and match_steps(#subject, pattern, repeated) > MAX_MATCH_STEPS then
        error("pattern " .. format("%q", sub(pattern, 1, 40))
          .. " is too complex for a subject of " .. #subject .. " characters (its worst case "
          .. "exceeds " .. format("%.0f", MAX_MATCH_STEPS) .. " steps)", 2)
      end
    end
    return raw(s, p, init, plain, ...)
  end
end

return {
  find = guarded("find", false), match = guarded("match", false),
  gmatch = guarded("gmatch", true), gsub = guarded("gsub", true),
}
