-- Apply a batch of reports to one host's aggregates. All keys share the host's hash tag.
-- Counts are summed here first, so a batch costs one write per distinct field, not per report.
-- KEYS[1] meta  [2] devices  [3] chains  [4] apps  [5] results  [6] enforce  [7] pinsets
--     [8] breaking  [9] breaking:apps  [10] applied, then per day d: day hash, day devices,
--     then one at-risk devices HLL per app version listed in ARGV
-- ARGV[1] writer id  [2] retention (s)  [3] per-host cap  [4] hostname  [5] number of days
--     [6 .. 5+days] expire-at (unix s) of each day's keys, then the number of app versions
--     and the versions (in KEYS order), then one argument per report holding 12 tab-separated
--     fields: sequence, received (ms), day index, hour "HH", chain FP, app key, validation
--     result, enforcement, pin-set key, device, "1:"..app version when it is a hard-fail
--     risk else "0", comma-separated flags
-- Returns how many reports were new: a (writer, sequence) at or below the writer's
-- high-water mark was applied before. A key of the wrong type is an error before any write.
local writer, retention, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nd = tonumber(ARGV[5])
local nv = tonumber(ARGV[6 + nd])
local vkeys = {}
for j = 1, nv do vkeys[ARGV[6 + nd + j]] = KEYS[10 + 2 * nd + j] end
local want = {'hash', 'string', 'zset', 'zset', 'hash', 'hash', 'zset', 'string', 'zset', 'hash'}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  local w = want[i] or ((i <= 10 + 2 * nd and i % 2 == 1) and 'hash' or 'string')
  if t ~= 'none' and t ~= w then
    return redis.error_reply('WRONGTYPE collector key ' .. KEYS[i])
  end
end

local applied = tonumber(redis.call('HGET', KEYS[10], writer) or '0')
local chains, apps, pins, results, enforce, bapps = {}, {}, {}, {}, {}, {}
local devs, bdevs, days, vdevs, flags = {}, {}, {}, {}, {}
local n, top, lo, hi = 0, applied, nil, nil
for a = 7 + nd + nv, #ARGV do
  local f = split(ARGV[a])
  local seq = tonumber(f[1])
  if seq > applied then
    n = n + 1
    if seq > top then top = seq end
    local ms = tonumber(f[2])
    if lo == nil or ms < lo then lo = ms end
    if hi == nil or ms > hi then hi = ms end
    local d = tonumber(f[3])
    local day = days[d]
    if day == nil then
      day = {n = 0, h = {}, c = {}, a = {}, r = {}, e = {}, p = {}, devs = {}}
      days[d] = day
    end
    day.n = day.n + 1
    inc(day.h, f[4]); inc(day.c, f[5]); inc(day.a, f[6])
    inc(day.r, f[7]); inc(day.e, f[8]); inc(day.p, f[9])
    table.insert(day.devs, f[10])
    inc(chains, f[5]); inc(apps, f[6]); inc(results, f[7])
    inc(enforce, f[8]); inc(pins, f[9])
    table.insert(devs, f[10])
    for flag in string.gmatch(f[12], '[^,]+') do inc(flags, flag) end
    local risk = f[11]
    if string.sub(risk, 1, 1) == '1' then
      local version = string.sub(risk, 3)
      table.insert(bdevs, f[10])
      inc(bapps, version)
      if vdevs[version] == nil then vdevs[version] = {} end
      table.insert(vdevs[version], f[10])
    end
  end
end
if n == 0 then return 0 end

-- Sorted sets are capped: a new member past the cap is counted as 'other'.
local function capped(key, counts)
  local map, card = {}, redis.call('ZCARD', key)
  for member, c in pairs(counts) do
    local target = member
    if not redis.call('ZSCORE', key, member) then
      if card >= cap then target = 'other' else card = card + 1 end
    end
    redis.call('ZINCRBY', key, c, target)
    map[member] = target
  end
  return map
end

local meta = KEYS[1]
redis.call('HINCRBY', meta, 'reports', n)
redis.call('HSETNX', meta, 'hostname', ARGV[4])
local first = tonumber(redis.call('HGET', meta, 'first_seen') or lo)
if lo <= first then redis.call('HSET', meta, 'first_seen', lo) end
if hi > tonumber(redis.call('HGET', meta, 'last_seen') or 0) then
  redis.call('HSET', meta, 'last_seen', hi)
end
for flag, c in pairs(flags) do redis.call('HINCRBY', meta, 'flag:' .. flag, c) end
redis.call('PFADD', KEYS[2], unpack(devs))
local cmap, amap, pmap = capped(KEYS[3], chains), capped(KEYS[4], apps), capped(KEYS[7], pins)
for k, c in pairs(results) do redis.call('HINCRBY', KEYS[5], k, c) end
for k, c in pairs(enforce) do redis.call('HINCRBY', KEYS[6], k, c) end
if #bdevs > 0 then
  redis.call('PFADD', KEYS[8], unpack(bdevs))
  for version, target in pairs(capped(KEYS[9], bapps)) do
    if target ~= 'other' then  -- past the cap a version gets no HLL of its own
      redis.call('PFADD', vkeys[version], unpack(vdevs[version]))
      redis.call('EXPIRE', vkeys[version], retention)
    end
  end
end
redis.call('HSET', KEYS[10], writer, top)
for i = 1, 10 do redis.call('EXPIRE', KEYS[i], retention) end

for d, day in pairs(days) do
  local key, dkey = KEYS[9 + 2 * d], KEYS[10 + 2 * d]
  redis.call('HINCRBY', key, 'n', day.n)
  for k, c in pairs(day.h) do redis.call('HINCRBY', key, 'h' .. k, c) end
  for k, c in pairs(day.c) do redis.call('HINCRBY', key, 'c' .. cmap[k], c) end
  for k, c in pairs(day.a) do redis.call('HINCRBY', key, 'a' .. amap[k], c) end
  for k, c in pairs(day.r) do redis.call('HINCRBY', key, 'r' .. k, c) end
  for k, c in pairs(day.e) do redis.call('HINCRBY', key, 'e' .. k, c) end
  for k, c in pairs(day.p) do redis.call('HINCRBY', key, 'p' .. pmap[k], c) end
  redis.call('PFADD', dkey, unpack(day.devs))
  redis.call('EXPIREAT', key, ARGV[5 + d])
  redis.call('EXPIREAT', dkey, ARGV[5 + d])
end
return n
