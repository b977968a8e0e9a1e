-- Helpers shared by every script; writer.py puts this file in front of each one.
-- split: the tab-separated fields of one report's argument. inc: count into a table.
-- append: add the items of one list to another.
local function split(s)
  local t, i = {}, 1
  while true do
    local j = string.find(s, '\t', i, true)
    if j == nil then t[#t + 1] = string.sub(s, i); return t end
    t[#t + 1] = string.sub(s, i, j - 1); i = j + 1
  end
end
local function inc(t, k, by) t[k] = (t[k] or 0) + (by or 1) end
local function append(t, items)
  local m = #t
  for i = 1, #items do t[m + i] = items[i] end
end

-- reports_after: the report arguments from ARGV[first] on whose sequence is above `applied`,
-- grouped by the text after their first three fields (sequence, received ms, device), so
-- reports that differ only in those are parsed once. Returns {rest -> {n, lo, hi, devs}} and
-- the highest sequence seen (`applied` when none is new).
local function reports_after(applied, first)
  local groups, top = {}, applied
  for r = first, #ARGV do
    local s = ARGV[r]
    local i1 = string.find(s, '\t', 1, true)
    local seq = tonumber(string.sub(s, 1, i1 - 1))
    if seq > applied then
      if seq > top then top = seq end
      local i2 = string.find(s, '\t', i1 + 1, true)
      local i3 = string.find(s, '\t', i2 + 1, true)
      local ms = tonumber(string.sub(s, i1 + 1, i2 - 1))
      local rest = string.sub(s, i3 + 1)
      local g = groups[rest]
      if g == nil then
        g = {n = 0, lo = ms, hi = ms, devs = {}}
        groups[rest] = g
      end
      g.n = g.n + 1
      if ms < g.lo then g.lo = ms end
      if ms > g.hi then g.hi = ms end
      g.devs[g.n] = string.sub(s, i2 + 1, i3 - 1)
    end
  end
  return groups, top
end


-- capped: add counts to a sorted set of at most `limit` members; a new member past the limit
-- is counted as 'other'. Returns member -> where it was counted. Below the limit a member is
-- added blind (ZINCRBY says whether it was new), so a set that is not full costs one call per
-- member.
local function capped(key, counts, limit)
  local map, card = {}, redis.call('ZCARD', key)
  for member, c in pairs(counts) do
    local target = member
    if card < limit then
      if tonumber(redis.call('ZINCRBY', key, c, member)) == c then card = card + 1 end
    else
      if not redis.call('ZSCORE', key, member) then target = 'other' end
      redis.call('ZINCRBY', key, c, target)
    end
    map[member] = target
  end
  return map
end

-- span: widen the [first, last] (ms) held in two fields of a hash to cover [lo, hi], in one
-- HSET together with the field/value pairs of `sets` (none when nothing changes).
local function span(key, first_field, last_field, lo, hi, sets)
  local cur = redis.call('HMGET', key, first_field, last_field)
  local f, l = tonumber(cur[1]), tonumber(cur[2])
  local args = sets or {}
  if f == nil or lo < f then args[#args + 1] = first_field; args[#args + 1] = lo end
  if l == nil or hi > l then args[#args + 1] = last_field; args[#args + 1] = hi end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
end

-- check_types: the error to return when a key is of another type than want[i] (keys without
-- a want are not checked), so a script refuses before any write; nil when all fit.
local function check_types(want)
  for i = 1, #KEYS do
    local w = want[i]
    if w ~= nil then
      local t = redis.call('TYPE', KEYS[i])['ok']
      if t ~= 'none' and t ~= w then
        return redis.error_reply('WRONGTYPE collector key ' .. KEYS[i])
      end
    end
  end
end
