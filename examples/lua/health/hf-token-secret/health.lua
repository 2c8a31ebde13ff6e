-- Model servers pull gated weights from Hugging Face with a token from a Secret. A health
-- rule in a plain health.lua file: with no selectors it sees every object of the add-on, so it
-- picks the Secret itself (kind and name) and has no opinion on the rest.
local strings = require("strings")

function evaluate()
  local statuses = {}
  for _, r in ipairs(resources) do
    if r.kind == "Secret" and r.metadata.name == "hf-token" then
      local verdict = {resource = r, status = "Healthy"}
      local encoded = r.data and r.data.token
      if encoded == nil then
        verdict.status, verdict.message = "Progressing", "waiting for data.token"
      else
        local token, err = base64Decode(encoded)
        if token == nil then
          verdict.status, verdict.message = "Degraded", "data.token: " .. err
        elseif not strings.HasPrefix(strings.TrimSpace(token), "hf_") then
          verdict.status, verdict.message = "Degraded", "data.token is not a Hugging Face token"
        end
      end
      table.insert(statuses, verdict)
    end
  end
  local hs = {}
  if #statuses > 0 then hs.resources = statuses end
  return hs
end
