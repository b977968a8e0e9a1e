-- Helpers shared by every script; store.py puts this file in front of each one.
-- split: the tab-separated fields of one report's argument. inc: count into a table.
local function split(s)
  local t, i = {}, 1
  while true do
    local j = string.find(s, '\t', i, true)
    if j == nil then t[#t + 1] = string.sub(s, i); return t end
    t[#t + 1] = string.sub(s, i, j - 1); i = j + 1
  end
end
local function inc(t, k, by) t[k] = (t[k] or 0) + (by or 1) end

