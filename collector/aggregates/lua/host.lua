-- Apply a batch of reports to one host's aggregates. All keys share the host's hash tag.
-- Counts are summed here first, so a batch costs one write per distinct field, not per report.
-- KEYS[1] meta  [2] devices  [3] chains  [4] apps  [5] results  [6] enforce  [7] pinsets
--     [8] breaking  [9] breaking:apps  [10] applied  [11] failing  [12] failing:apps
--     [13] other:chains  [14] events, then per day: day hash, day devices, failing:DAY,
--     breaking:DAY, then per chain: pair hash, pair devices, pair apps, and per day: pair day
--     hash, pair day devices; then per app key: failing:a:AID, breaking:a:AID
-- ARGV[1] writer id  [2] retention (s)  [3] per-host cap  [4] hostname  [5] pair key prefix
--     [6] number of days, then each day's expire-at (unix s), then the number of chains and
--     per chain (in KEYS order) its FP and the pair's class, label and classifier version (the
--     batch's latest report's), then the number of app keys and the app keys (in KEYS order),
--     then "1" to record alert events (else "0"), then one argument per report holding 13
--     tab-separated fields: sequence, received (ms), device, day index, hour "HH", chain index
--     (0 for a test report), app key, validation result, enforcement, pin-set key, risk ("F"
--     enforcing / "B" report-only client on a public-trust pair, else "0"), comma-separated
--     flags, "1" for a test report else "0"
-- Returns {how many reports were new, then per pending alert event: its entry in
-- KEYS[14] ("kind\tFP\tclass\tlabel"), the pair's reports, devices and first_seen (ms)}.
-- A (writer, sequence) at or below the writer's high-water mark was applied before, so a
-- replay decides no new event; it returns the events still pending (a lost reply's), which
-- the writer removes once the alerter has enqueued them. Events: "new-pair" when a pair key
-- is created, "first-failing" when a public-trust pair's failing goes from 0 to more.
-- Each report is also counted in its host's 5-minute bucket (m5:N, derived from the pair
-- prefix as keys.HostKeys.minutes5 builds it), which the spike rule reads.
-- A key of the wrong type is an error before any write.
local writer, retention, cap, prefix = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5]
local NFIXED = 14
local nd = tonumber(ARGV[6])
local a = 7 + nd
local nc = tonumber(ARGV[a]); a = a + 1
local fps, cindex, verdicts = {}, {}, {}
for c = 1, nc do
  fps[c] = ARGV[a]; cindex[ARGV[a]] = c
  verdicts[c] = {ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]}
  a = a + 4
end
local na = tonumber(ARGV[a]); a = a + 1
local akeys = {}
for j = 1, na do akeys[ARGV[a]] = j; a = a + 1 end
local record_events = ARGV[a] == '1'; a = a + 1
local first_record = a
local base = string.sub(prefix, 1, -6)  -- prefix is base .. 'pair:'
local M5 = 300000

local DAYW = 4
local CHAINW = 3 + 2 * nd
local cbase = NFIXED + DAYW * nd          -- KEYS[cbase + (c-1)*CHAINW + 1] is chain c's pair
local abase = cbase + CHAINW * nc         -- KEYS[abase + 2*(j-1) + 1] is app key j's failing
local function day_key(d, i) return KEYS[NFIXED + DAYW * (d - 1) + i] end
local function pair_key(c, i) return KEYS[cbase + CHAINW * (c - 1) + i] end
local function pair_day_key(c, d, i) return KEYS[cbase + CHAINW * (c - 1) + 3 + 2 * (d - 1) + i] end

local fixed_want = {'hash', 'string', 'zset', 'zset', 'hash', 'hash', 'zset', 'string', 'zset',
                    'hash', 'string', 'zset', 'string', 'list'}
local want = {}
for i = 1, NFIXED do want[i] = fixed_want[i] end
for d = 1, nd do
  local b = NFIXED + DAYW * (d - 1)
  want[b + 1], want[b + 2], want[b + 3], want[b + 4] = 'hash', 'string', 'string', 'string'
end
for c = 1, nc do
  local b = cbase + CHAINW * (c - 1)
  want[b + 1], want[b + 2], want[b + 3] = 'hash', 'string', 'zset'
  for d = 1, nd do want[b + 2 + 2 * d], want[b + 3 + 2 * d] = 'hash', 'string' end
end
for i = abase + 1, #KEYS do want[i] = 'string' end
local wrong = check_types(want)
if wrong then return wrong end

local applied = tonumber(redis.call('HGET', KEYS[10], writer) or '0')
local groups, top = reports_after(applied, first_record)
local chains, apps, pins, results, enforce = {}, {}, {}, {}, {}
local bapps, fapps, bdevs, fdevs, badevs, fadevs = {}, {}, {}, {}, {}, {}
local devs, days, flags, pairs_, tdays = {}, {}, {}, {}, {}
local n, ntest, lo, hi = 0, 0, nil, nil
local m5 = {}
for rest, g in pairs(groups) do
  local f = split(rest)
  local k, d = g.n, tonumber(f[1])
  if f[10] == '1' then
    ntest = ntest + k
    inc(tdays, d, k)
  else
    n = n + k
    local c = tonumber(f[3])
    local fp, app, enf, risk = fps[c], f[4], f[6], f[8]
    if lo == nil or g.lo < lo then lo = g.lo end
    if hi == nil or g.hi > hi then hi = g.hi end
    inc(m5, math.floor(g.hi / M5), k)  -- a group's reports in its latest one's bucket
    local day = days[d]
    if day == nil then
      day = {n = 0, h = {}, c = {}, a = {}, r = {}, e = {}, p = {}, x = {}, F = {}, B = {},
             devs = {}, fdevs = {}, bdevs = {}, lo = g.lo, hi = g.hi}
      days[d] = day
    end
    day.n = day.n + k
    if g.lo < day.lo then day.lo = g.lo end
    if g.hi > day.hi then day.hi = g.hi end
    inc(day.h, f[2], k); inc(day.c, fp, k); inc(day.a, app, k)
    inc(day.r, f[5], k); inc(day.e, enf, k); inc(day.p, f[7], k)
    append(day.devs, g.devs)
    inc(chains, fp, k); inc(apps, app, k); inc(results, f[5], k); inc(enforce, enf, k)
    inc(pins, f[7], k)
    append(devs, g.devs)
    for flag in string.gmatch(f[9], '[^,]+') do inc(flags, flag, k); inc(day.x, flag, k) end
    local p = pairs_[c]
    if p == nil then
      local v = verdicts[c]
      p = {n = 0, lo = g.lo, hi = g.hi, e = {}, apps = {}, devs = {}, failing = 0, at_risk = 0,
           days = {}, class = v[1], label = v[2], cv = v[3]}
      pairs_[c] = p
    end
    p.n = p.n + k
    if g.lo < p.lo then p.lo = g.lo end
    if g.hi > p.hi then p.hi = g.hi end
    inc(p.e, enf, k); inc(p.apps, app, k)
    append(p.devs, g.devs)
    local pd = p.days[d]
    if pd == nil then
      pd = {n = 0, h = {}, e = {}, a = {}, devs = {}, lo = g.lo, hi = g.hi}
      p.days[d] = pd
    end
    pd.n = pd.n + k
    if g.lo < pd.lo then pd.lo = g.lo end
    if g.hi > pd.hi then pd.hi = g.hi end
    inc(pd.h, f[2], k); inc(pd.e, enf, k); inc(pd.a, app, k)
    append(pd.devs, g.devs)
    if risk == 'F' then
      p.failing = p.failing + k
      append(fdevs, g.devs); append(day.fdevs, g.devs)
      inc(fapps, app, k); inc(day.F, app, k)
      if fadevs[app] == nil then fadevs[app] = {} end
      append(fadevs[app], g.devs)
    elseif risk == 'B' then
      p.at_risk = p.at_risk + k
      append(bdevs, g.devs); append(day.bdevs, g.devs)
      inc(bapps, app, k); inc(day.B, app, k)
      if badevs[app] == nil then badevs[app] = {} end
      append(badevs[app], g.devs)
    end
  end
end
for b, _ in pairs(m5) do
  local t = redis.call('TYPE', base .. 'm5:' .. b)['ok']
  if t ~= 'none' and t ~= 'string' then
    return redis.error_reply('WRONGTYPE collector key ' .. base .. 'm5:' .. b)
  end
end

-- The pending events, with their pairs' figures now (reads only: never an error after writes).
local function reply(count)
  local out = {count}
  if not record_events then return out end
  for _, entry in ipairs(redis.call('LRANGE', KEYS[14], 0, -1)) do
    local fp = string.match(entry, '^[^\t]*\t([^\t]*)')
    local pkey = prefix .. (fp or '')
    local h = redis.pcall('HMGET', pkey, 'reports', 'first_seen')
    local dv = redis.pcall('PFCOUNT', pkey .. ':devices')
    if type(h) ~= 'table' or h.err then h = {} end
    if type(dv) ~= 'number' then dv = 0 end
    out[#out + 1] = entry
    out[#out + 1] = tonumber(h[1] or 0) or 0
    out[#out + 1] = dv
    out[#out + 1] = tonumber(h[2] or 0) or 0
  end
  return out
end

if n + ntest == 0 then return reply(0) end

local meta = KEYS[1]
-- Test reports: meta and a field of the day hash (so a window can count them); no more.
if ntest > 0 then redis.call('HINCRBY', meta, 'test_reports', ntest) end
for d, c in pairs(tdays) do
  redis.call('HINCRBY', day_key(d, 1), 'test_reports', c)
  redis.call('EXPIREAT', day_key(d, 1), ARGV[6 + d])
end
redis.call('HSET', KEYS[10], writer, top)
if n == 0 then  -- test reports only: counted apart, nowhere else
  redis.call('HSET', meta, 'hostname', ARGV[4])
  redis.call('EXPIRE', meta, retention)
  redis.call('EXPIRE', KEYS[10], retention)
  return reply(ntest)
end

redis.call('HINCRBY', meta, 'reports', n)
span(meta, 'first_seen', 'last_seen', lo, hi, {'hostname', ARGV[4]})
for flag, c in pairs(flags) do redis.call('HINCRBY', meta, 'flag:' .. flag, c) end
redis.call('PFADD', KEYS[2], unpack(devs))
local amap, pmap = capped(KEYS[4], apps, cap), capped(KEYS[7], pins, cap)
for k, c in pairs(results) do redis.call('HINCRBY', KEYS[5], k, c) end
for k, c in pairs(enforce) do redis.call('HINCRBY', KEYS[6], k, c) end

-- Devices failing on public-trust pairs: report-only (at risk) and enforcing (failing now),
-- each with its own capped per-app counts and, for an app with a member, its own HLL.
local function risk(all, slot, zkey, counts, per_app, which)
  if #all == 0 then return {} end
  redis.call('PFADD', KEYS[slot], unpack(all))
  local map = capped(zkey, counts, cap)
  for app, target in pairs(map) do
    if target ~= 'other' then  -- past the cap an app gets no HLL of its own
      local key = KEYS[abase + 2 * (akeys[app] - 1) + which]
      redis.call('PFADD', key, unpack(per_app[app]))
      redis.call('EXPIRE', key, retention)
    end
  end
  return map
end
local fmap = risk(fdevs, 11, KEYS[12], fapps, fadevs, 1)
local bmap = risk(bdevs, 8, KEYS[9], bapps, badevs, 2)

-- Chains, capped with protection: a pair that is public-trust or has failing reports is
-- never folded into 'other'; a new one past the cap evicts the least-reported unprotected
-- member (its score moves to 'other' and its pair keys are deleted).
local RDAYS = math.ceil(retention / 86400)
local function ymd(dn)  -- days since 1970-01-01 -> "YYYYMMDD" (civil_from_days)
  local z = dn + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local dd = doy - math.floor((153 * mp + 2) / 5) + 1
  local mm = mp < 10 and mp + 3 or mp - 9
  local yy = yoe + era * 400 + (mm <= 2 and 1 or 0)
  return string.format('%04d%02d%02d', yy, mm, dd)
end
local function delete_pair(fp)
  local key = prefix .. fp
  local seen = redis.call('HMGET', key, 'first_seen', 'last_seen')
  local f_ms, l_ms = tonumber(seen[1]), tonumber(seen[2])
  if f_ms and l_ms then
    local last = math.floor(l_ms / 86400000)
    local from = math.max(math.floor(f_ms / 86400000), last - RDAYS - 1)
    for dn = from, last do
      local day = ymd(dn)
      redis.call('DEL', key .. ':day:' .. day, key .. ':devices:' .. day)
    end
  end
  redis.call('DEL', key, key .. ':devices', key .. ':apps')
end
local function protected(fp)
  local c = cindex[fp]
  local p = c and pairs_[c]
  local stored = redis.call('HMGET', prefix .. fp, 'class', 'failing')
  local class = (p and p.class) or stored[1]
  return class == 'public-trust' or tonumber(stored[2] or 0) + (p and p.failing or 0) > 0
end

local ckey, other = KEYS[3], 'other'
local existing, fresh_p, fresh_u = {}, {}, {}
for c, p in pairs(pairs_) do
  local fp = fps[c]
  if redis.call('ZSCORE', ckey, fp) then
    table.insert(existing, c)
  elseif p.class == 'public-trust' or p.failing > 0 then
    table.insert(fresh_p, c)
  else
    table.insert(fresh_u, c)
  end
end
local function by_count(x, y)
  if pairs_[x].n ~= pairs_[y].n then return pairs_[x].n > pairs_[y].n end
  return fps[x] < fps[y]
end
table.sort(fresh_p, by_count); table.sort(fresh_u, by_count)
local cmap = {}
local function fold(fp, score)  -- count a chain as 'other' and remember it was one
  redis.call('ZINCRBY', ckey, score, other)
  redis.call('PFADD', KEYS[13], fp)
  redis.call('EXPIRE', KEYS[13], retention)
end
for _, c in ipairs(existing) do
  redis.call('ZINCRBY', ckey, pairs_[c].n, fps[c]); cmap[fps[c]] = fps[c]
end
for _, c in ipairs(fresh_p) do
  local fp = fps[c]
  if redis.call('ZCARD', ckey) >= cap then
    local members = redis.call('ZRANGE', ckey, 0, -1, 'WITHSCORES')
    for i = 1, #members, 2 do
      local m = members[i]
      if m ~= other and not protected(m) then
        redis.call('ZREM', ckey, m)
        fold(m, members[i + 1])
        delete_pair(m)
        if cmap[m] then cmap[m] = other end
        break
      end
    end
  end
  redis.call('ZINCRBY', ckey, pairs_[c].n, fp); cmap[fp] = fp
end
for _, c in ipairs(fresh_u) do
  local fp = fps[c]
  if redis.call('ZCARD', ckey) >= cap then
    fold(fp, pairs_[c].n); cmap[fp] = other
  else
    redis.call('ZINCRBY', ckey, pairs_[c].n, fp); cmap[fp] = fp
  end
end

-- Pair aggregates, only for chains holding their own member.
local events = {}
for c, p in pairs(pairs_) do
  local fp = fps[c]
  if cmap[fp] == fp then
    local key, dkey, akey = pair_key(c, 1), pair_key(c, 2), pair_key(c, 3)
    if redis.call('HINCRBY', key, 'reports', p.n) == p.n then
      events[#events + 1] = 'new-pair\t' .. fp .. '\t' .. p.class .. '\t' .. p.label
    end
    span(key, 'first_seen', 'last_seen', p.lo, p.hi,
         {'class', p.class, 'label', p.label, 'cv', p.cv})
    for k, v in pairs(p.e) do redis.call('HINCRBY', key, k, v) end
    if p.failing > 0 and redis.call('HINCRBY', key, 'failing', p.failing) == p.failing
        and p.class == 'public-trust' then
      events[#events + 1] = 'first-failing\t' .. fp .. '\t' .. p.class .. '\t' .. p.label
    end
    if p.at_risk > 0 then redis.call('HINCRBY', key, 'at_risk', p.at_risk) end
    redis.call('PFADD', dkey, unpack(p.devs))
    local pamap = capped(akey, p.apps, cap)
    for _, k in ipairs({key, dkey, akey}) do redis.call('EXPIRE', k, retention) end
    for d, pd in pairs(p.days) do
      local hk, hd = pair_day_key(c, d, 1), pair_day_key(c, d, 2)
      redis.call('HINCRBY', hk, 'n', pd.n)
      for k, v in pairs(pd.h) do redis.call('HINCRBY', hk, 'h' .. k, v) end
      for k, v in pairs(pd.e) do redis.call('HINCRBY', hk, 'e' .. k, v) end
      for k, v in pairs(pd.a) do redis.call('HINCRBY', hk, 'a' .. pamap[k], v) end
      span(hk, 'first', 'last', pd.lo, pd.hi)
      redis.call('PFADD', hd, unpack(pd.devs))
      redis.call('EXPIREAT', hk, ARGV[6 + d])
      redis.call('EXPIREAT', hd, ARGV[6 + d])
    end
  end
end

for i = 1, 7 do redis.call('EXPIRE', KEYS[i], retention) end
redis.call('EXPIRE', KEYS[10], retention)
for _, i in ipairs(#bdevs > 0 and {8, 9} or {}) do redis.call('EXPIRE', KEYS[i], retention) end
for _, i in ipairs(#fdevs > 0 and {11, 12} or {}) do redis.call('EXPIRE', KEYS[i], retention) end

for d, day in pairs(days) do
  local key, dkey, fkey, bkey = day_key(d, 1), day_key(d, 2), day_key(d, 3), day_key(d, 4)
  redis.call('HINCRBY', key, 'n', day.n)
  for k, c in pairs(day.h) do redis.call('HINCRBY', key, 'h' .. k, c) end
  for k, c in pairs(day.c) do redis.call('HINCRBY', key, 'c' .. cmap[k], c) end
  for k, c in pairs(day.a) do redis.call('HINCRBY', key, 'a' .. amap[k], c) end
  for k, c in pairs(day.r) do redis.call('HINCRBY', key, 'r' .. k, c) end
  for k, c in pairs(day.e) do redis.call('HINCRBY', key, 'e' .. k, c) end
  for k, c in pairs(day.p) do redis.call('HINCRBY', key, 'p' .. pmap[k], c) end
  for k, c in pairs(day.x) do redis.call('HINCRBY', key, 'x' .. k, c) end
  for k, c in pairs(day.F) do redis.call('HINCRBY', key, 'F' .. fmap[k], c) end
  for k, c in pairs(day.B) do redis.call('HINCRBY', key, 'B' .. bmap[k], c) end
  span(key, 'first', 'last', day.lo, day.hi)
  redis.call('PFADD', dkey, unpack(day.devs))
  if #day.fdevs > 0 then redis.call('PFADD', fkey, unpack(day.fdevs)) end
  if #day.bdevs > 0 then redis.call('PFADD', bkey, unpack(day.bdevs)) end
  redis.call('EXPIREAT', key, ARGV[6 + d])
  redis.call('EXPIREAT', dkey, ARGV[6 + d])
  if #day.fdevs > 0 then redis.call('EXPIREAT', fkey, ARGV[6 + d]) end
  if #day.bdevs > 0 then redis.call('EXPIREAT', bkey, ARGV[6 + d]) end
end
for b, c in pairs(m5) do
  local key = base .. 'm5:' .. b
  redis.call('INCRBY', key, c)
  redis.call('EXPIREAT', key, (b + 1) * 300 + 1800)
end
if record_events and #events > 0 then
  redis.call('RPUSH', KEYS[14], unpack(events))
  redis.call('LTRIM', KEYS[14], -1000, -1)
  redis.call('EXPIRE', KEYS[14], retention)
end
return reply(n + ntest)
