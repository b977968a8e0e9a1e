-- Apply one host's merged batch (aggregates/merge.py host_call). All keys share the host's
-- hash tag. KEYS[1] meta [2] devices [3] chains [4] apps [5] results [6] enforce [7] pinsets
--   [8] breaking [9] breaking:apps [10] applied [11] failing [12] failing:apps
--   [13] other:chains [14] events; every other key is numbered by its argument.
-- ARGV: [1] writer [2] first and [3] last sequence of the batch [4] retention (s) [5] per-host
--   cap [6] hostname [7] pair key prefix [8] "1" to record alert events [9] TTL refresh period
--   (ms) [10] reports [11] test reports [12] first and [13] last received (ms) [14] where the
--   device pool starts; then the sections, in the order they are parsed below (each device
--   list is an offset and a count in the pool).
-- Returns {how many reports were new, then per pending alert event: its entry in KEYS[14]
-- ("kind\tFP\tclass\tlabel"), the pair's reports, devices and first_seen (ms)}; or {-1,
-- mark} when the writer's mark in this slot falls inside the batch (a replay cut elsewhere):
-- the writer then sends the reports after the mark. Events: "new-pair" when a pair record
-- is created, "first-failing" when a public-trust pair's failing goes from 0 to more.
-- Any key of the wrong type is an error before any write.
local writer, seq_lo, seq_hi = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local retention, cap, hostname, prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local ttl = ARGV[4]  -- the retention as Redis takes it (no number formatting)
local record_events, period = ARGV[8] == '1', tonumber(ARGV[9])
local n, ntest, lo, hi, pool = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]),
  tonumber(ARGV[13]), tonumber(ARGV[14])
A = 15

-- The pending events with their pairs' figures now (reads only: never an error after writes).
local pending = nil
local function reply(count, new_events)
  local out = {count}
  if not record_events then return out end
  local entries = pending or redis.call('LRANGE', KEYS[14], 0, -1)
  for _, e in ipairs(new_events or {}) do entries[#entries + 1] = e end
  for _, entry in ipairs(entries) do
    local fp = string.match(entry, '^[^\t]*\t([^\t]*)')
    local pkey = prefix .. (fp or '')
    local h = redis.pcall('HMGET', pkey, 'reports', 'first_seen')
    local dv = redis.pcall('PFCOUNT', pkey .. ':devices')
    if failed(h) then h = {} end
    if type(dv) ~= 'number' then dv = 0 end
    out[#out + 1] = entry
    out[#out + 1] = tonumber(h[1] or 0) or 0
    out[#out + 1] = dv
    out[#out + 1] = tonumber(h[2] or 0) or 0
  end
  return out
end

local mark, err = applied_mark(KEYS[10], writer)
if err then return err end
if mark >= seq_hi then return reply(0) end  -- a replay: nothing new
if mark >= seq_lo then return {-1, mark} end

-- ==== parse (one statement per argument: arguments are read in order) ======================
local function key_or_nil() local i = num(); if i > 0 then return KEYS[i] end end
local function range() local off = num(); return {off, num()} end
local meta = parse_hash(KEYS[1])
local days = {}
for d = 1, num() do
  local day = {}
  day.expire = nxt()
  day.key = KEYS[num()]
  day.dkey = KEYS[num()]
  day.fkey = key_or_nil()
  day.bkey = key_or_nil()
  day.h = parse_hash(day.key)
  day.devs = range()
  day.fdevs = range()
  day.bdevs = range()
  days[d] = day
end
local results, enforce, apps, pinsets, devs, risks, chains, m5, inv
if n > 0 then
  results = parse_hash(KEYS[5])
  enforce = parse_hash(KEYS[6])
  apps = parse_counts()
  apps.key = KEYS[4]
  pinsets = parse_counts()
  pinsets.key = KEYS[7]
  devs = range()
  risks = {}
  for j, slots in ipairs({{11, 12}, {8, 9}}) do  -- failing now (F), at risk (B)
    local counts = parse_counts()
    if counts.n > 0 then
      counts.key = KEYS[slots[2]]
      local r = {hll = KEYS[slots[1]], z = counts, apps = {}}
      r.devs = range()
      for i = 1, counts.n do
        local ra = {}
        ra.key = KEYS[num()]
        ra.devs = range()
        r.apps[ARGV[counts.at + i - 1]] = ra
      end
      risks[j] = r
    end
  end
  chains = {}
  for c = 1, num() do
    local p = {}
    p.fp = nxt()
    p.class = nxt()
    p.label = nxt()
    p.cv = nxt()
    p.n = num()
    p.failing = num()
    p.key = KEYS[num()]
    p.dkey = KEYS[num()]
    p.akey = KEYS[num()]
    p.h = parse_hash(p.key)
    p.apps = parse_counts()
    p.apps.key = p.akey
    p.devs = range()
    p.days = {}
    for d = 1, num() do
      local pd = {}
      pd.expire = nxt()
      pd.key = KEYS[num()]
      pd.dkey = KEYS[num()]
      pd.h = parse_hash(pd.key)
      pd.devs = range()
      p.days[d] = pd
    end
    chains[c] = p
  end
  m5 = {}
  for b = 1, num() do
    local bucket = {}
    bucket.key = KEYS[num()]
    bucket.n = num()
    bucket.expire = nxt()
    m5[b] = bucket
  end
  inv = {members = {}}
  inv.zset = KEYS[num()]
  inv.seen = KEYS[num()]
  inv.other = KEYS[num()]
  for i = 1, num() do
    local e = {days = {}}
    e.m = nxt()
    e.key = KEYS[num()]
    e.n = num()
    e.lo = num()
    e.hi = num()
    e.regs = nxt()
    for d = 1, num() do
      local ed = {}
      ed.expire = nxt()
      ed.hkey = KEYS[num()]
      ed.key = KEYS[num()]
      ed.n = num()
      ed.lo = num()
      ed.hi = num()
      ed.regs = nxt()
      e.days[d] = ed
    end
    inv.members[i] = e
  end
end

-- ==== read: every key the batch writes, which checks its type ===============================
err = read_hash(meta)
if err then return err end
for _, day in ipairs(days) do
  err = read_hash(day.h)
  if err then return err end
  if n > 0 then
    day.dnew, err = read_type(day.dkey, 'string')
    if err then return err end
    if day.fkey then day.fnew, err = read_type(day.fkey, 'string'); if err then return err end end
    if day.bkey then day.bnew, err = read_type(day.bkey, 'string'); if err then return err end end
  end
end
if record_events then
  local got = redis.pcall('LRANGE', KEYS[14], 0, -1)
  if failed(got) then return wrong(KEYS[14]) end
  pending = got
end
local devices_new, cz = false, nil
local sketches = {}  -- inventory sketch key -> its bytes (false: none yet)
if n > 0 then
  for _, h in ipairs({results, enforce}) do err = read_hash(h); if err then return err end end
  for _, z in ipairs({apps, pinsets}) do err = read_zset(z); if err then return err end end
  devices_new, err = read_type(KEYS[2], 'string')
  if err then return err end
  for _, r in pairs(risks) do
    err = read_zset(r.z)
    if err then return err end
    r.new, err = read_type(r.hll, 'string')
    if err then return err end
    for _, ra in pairs(r.apps) do
      ra.new, err = read_type(ra.key, 'string')
      if err then return err end
    end
  end
  cz = {key = KEYS[3], cur = {}, new = true}
  local fps = {}
  for c, p in ipairs(chains) do fps[c] = p.fp end
  local got = redis.pcall('ZMSCORE', cz.key, unpack(fps))
  if failed(got) then return wrong(cz.key) end
  for c, fp in ipairs(fps) do
    if got[c] then cz.cur[fp] = tonumber(got[c]); cz.new = false end
  end
  for _, p in ipairs(chains) do
    err = read_hash(p.h)
    if err then return err end
    err = read_zset(p.apps)
    if err then return err end
    p.dnew, err = read_type(p.dkey, 'string')
    if err then return err end
    for _, pd in ipairs(p.days) do
      err = read_hash(pd.h)
      if err then return err end
      pd.dnew, err = read_type(pd.dkey, 'string')
      if err then return err end
    end
    if cz.cur[p.fp] == nil then cz.fresh = true end
  end
  if cz.fresh then
    local _
    _, err = read_type(KEYS[13], 'string')
    if err then return err end
  end
  for _, b in ipairs(m5) do
    local _
    _, err = read_type(b.key, 'string')
    if err then return err end
  end
  -- Field pin inventory (SPEC section 12): the members' last seen, reports and first seen,
  -- each day's hash, the device sketches.
  if #inv.members > 0 then
    local members, seen = {}, {'o'}
    for i, e in ipairs(inv.members) do
      members[i] = e.m
      seen[#seen + 1] = 'n' .. e.m; seen[#seen + 1] = 'f' .. e.m
    end
    local got = redis.pcall('ZMSCORE', inv.zset, unpack(members))
    if failed(got) then return wrong(inv.zset) end
    inv.new = true
    for i, e in ipairs(inv.members) do
      e.last = tonumber(got[i])
      if e.last then inv.new = false else inv.fresh = true end
    end
    got = redis.pcall('HMGET', inv.seen, unpack(seen))
    if failed(got) then return wrong(inv.seen) end
    inv.seen_new = not got[1]
    for i, e in ipairs(inv.members) do
      e.seen_n, e.seen_f = tonumber(got[2 * i]), tonumber(got[2 * i + 1])
      if e.seen_n then inv.seen_new = false end
    end
    if inv.fresh then
      local _
      _, err = read_type(inv.other, 'string')
      if err then return err end
    end
    local dfields, order = {}, {}
    for _, e in ipairs(inv.members) do
      for _, ed in ipairs(e.days) do
        local f = dfields[ed.hkey]
        if f == nil then f = {'o'}; dfields[ed.hkey] = f; order[#order + 1] = ed.hkey end
        f[#f + 1] = 'n' .. e.m; f[#f + 1] = 'f' .. e.m; f[#f + 1] = 'l' .. e.m
      end
    end
    inv.days = {}
    for _, hkey in ipairs(order) do
      local f = dfields[hkey]
      got = redis.pcall('HMGET', hkey, unpack(f))
      if failed(got) then return wrong(hkey) end
      local cur = {new = true, out = {}, key = hkey}
      for i, name in ipairs(f) do
        if got[i] then cur[name] = tonumber(got[i]); cur.new = false end
      end
      inv.days[hkey] = cur
      inv.days[#inv.days + 1] = cur
    end
    for _, e in ipairs(inv.members) do
      local keys = {e.key}
      for _, ed in ipairs(e.days) do keys[#keys + 1] = ed.key end
      for _, k in ipairs(keys) do
        got = redis.pcall('GET', k)
        if failed(got) then return wrong(k) end
        sketches[k] = got
      end
    end
  end
end

-- ==== write =================================================================================
if n == 0 then  -- test reports only: counted apart, nowhere else
  write_hash(meta, {})
  for _, day in ipairs(days) do
    write_hash(day.h, {})
    if day.h.new then redis.call('EXPIREAT', day.key, day.expire) end
  end
  redis.call('HSET', KEYS[10], writer, ARGV[3])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[10], ttl)
  return reply(ntest)
end

-- "R after last write": the host's keys get their TTL when created, and all of them again
-- (written by this batch or not) when this batch's last report is in a later period than the
-- host's last one; so while a host is written, its keys' TTLs are at most a period old.
local refresh = due(stored(meta, 'last_seen'), hi, period)
local expire_at_end = {}
local function keep(key, new)
  if new and not refresh then expire_at_end[#expire_at_end + 1] = key end
end
write_hash(meta, {})
keep(KEYS[1], meta.new)
redis.call('HSET', KEYS[10], writer, ARGV[3])
keep(KEYS[10], mark == 0)
pfadd(KEYS[2], pool, devs[1], devs[2])
keep(KEYS[2], devices_new)
local amap, pmap = write_zset(apps, cap), write_zset(pinsets, cap)
keep(KEYS[4], apps.new)
keep(KEYS[7], pinsets.new)
write_hash(results, {})
keep(KEYS[5], results.new)
write_hash(enforce, {})
keep(KEYS[6], enforce.new)

-- Devices failing on public-trust pairs: enforcing (failing now) and report-only (at risk),
-- each with its own capped per-app counts and, for an app with a member, its own HLL.
local fmap, bmap = {}, {}
for j, r in pairs(risks) do
  pfadd(r.hll, pool, r.devs[1], r.devs[2])
  local map = write_zset(r.z, cap)
  for app, target in pairs(map) do
    if target ~= 'other' then  -- past the cap an app gets no HLL of its own
      local ra = r.apps[app]
      pfadd(ra.key, pool, ra.devs[1], ra.devs[2])
      redis.call('EXPIRE', ra.key, ttl)
    end
  end
  keep(r.hll, r.new)
  keep(r.z.key, r.z.new)
  if j == 1 then fmap = map else bmap = map end
end

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
local byfp = {}
for _, p in ipairs(chains) do byfp[p.fp] = p end
local function protected(fp)
  local p = byfp[fp]
  local stored = redis.call('HMGET', prefix .. fp, 'class', 'failing')
  local class = (p and p.class) or stored[1]
  return class == 'public-trust' or tonumber(stored[2] or 0) + (p and p.failing or 0) > 0
end

local ckey, other = KEYS[3], 'other'
local existing, fresh_p, fresh_u = {}, {}, {}
for _, p in ipairs(chains) do
  if cz.cur[p.fp] then
    existing[#existing + 1] = p
  elseif p.class == 'public-trust' or p.failing > 0 then
    fresh_p[#fresh_p + 1] = p
  else
    fresh_u[#fresh_u + 1] = p
  end
end
local cmap = {}
local nfresh = #fresh_p + #fresh_u
if nfresh == 0 or redis.call('ZCARD', ckey) + nfresh <= cap then  -- all fit: one ZADD
  local args = {}
  for _, p in ipairs(chains) do
    args[#args + 1] = int((cz.cur[p.fp] or 0) + p.n); args[#args + 1] = p.fp
    cmap[p.fp] = p.fp
  end
  redis.call('ZADD', ckey, unpack(args))
else
  local function by_count(x, y)
    if x.n ~= y.n then return x.n > y.n end
    return x.fp < y.fp
  end
  table.sort(fresh_p, by_count); table.sort(fresh_u, by_count)
  local function fold(fp, score)  -- count a chain as 'other' and remember it was one
    redis.call('ZINCRBY', ckey, score, other)
    redis.call('PFADD', KEYS[13], fp)
    redis.call('EXPIRE', KEYS[13], ttl)
  end
  for _, p in ipairs(existing) do redis.call('ZINCRBY', ckey, p.n, p.fp); cmap[p.fp] = p.fp end
  for _, p in ipairs(fresh_p) do
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
    redis.call('ZINCRBY', ckey, p.n, p.fp); cmap[p.fp] = p.fp
  end
  for _, p in ipairs(fresh_u) do
    if redis.call('ZCARD', ckey) >= cap then
      fold(p.fp, p.n); cmap[p.fp] = other
    else
      redis.call('ZINCRBY', ckey, p.n, p.fp); cmap[p.fp] = p.fp
    end
  end
end
keep(ckey, cz.new)

-- Pair aggregates, only for chains holding their own member.
local events = {}
for _, p in ipairs(chains) do
  if cmap[p.fp] == p.fp then
    if (tonumber(stored(p.h, 'reports')) or 0) == 0 then
      events[#events + 1] = 'new-pair\t' .. p.fp .. '\t' .. p.class .. '\t' .. p.label
    end
    if p.failing > 0 and (tonumber(stored(p.h, 'failing')) or 0) == 0
        and p.class == 'public-trust' then
      events[#events + 1] = 'first-failing\t' .. p.fp .. '\t' .. p.class .. '\t' .. p.label
    end
    local pdue = due(stored(p.h, 'last_seen'), hi, period)
    write_hash(p.h, {})
    pfadd(p.dkey, pool, p.devs[1], p.devs[2])
    local pamap = write_zset(p.apps, cap)
    if pdue or p.h.new then redis.call('EXPIRE', p.key, ttl) end
    if pdue or p.dnew then redis.call('EXPIRE', p.dkey, ttl) end
    if pdue or p.apps.new then redis.call('EXPIRE', p.akey, ttl) end
    for _, pd in ipairs(p.days) do
      write_hash(pd.h, {Q = pamap})
      pfadd(pd.dkey, pool, pd.devs[1], pd.devs[2])
      if pd.h.new then redis.call('EXPIREAT', pd.key, pd.expire) end
      if pd.dnew then redis.call('EXPIREAT', pd.dkey, pd.expire) end
    end
  end
end

local maps = {C = cmap, A = amap, P = pmap, F = fmap, B = bmap}
for _, day in ipairs(days) do
  write_hash(day.h, maps)
  pfadd(day.dkey, pool, day.devs[1], day.devs[2])
  if day.fkey then pfadd(day.fkey, pool, day.fdevs[1], day.fdevs[2]) end
  if day.bkey then pfadd(day.bkey, pool, day.bdevs[1], day.bdevs[2]) end
  if day.h.new then redis.call('EXPIREAT', day.key, day.expire) end
  if day.dnew then redis.call('EXPIREAT', day.dkey, day.expire) end
  if day.fkey and day.fnew then redis.call('EXPIREAT', day.fkey, day.expire) end
  if day.bkey and day.bnew then redis.call('EXPIREAT', day.bkey, day.expire) end
end
for _, b in ipairs(m5) do  -- each report in its host's 5-minute bucket (the spike rule)
  if redis.call('INCRBY', b.key, b.n) == b.n then redis.call('EXPIREAT', b.key, b.expire) end
end
if record_events and #events > 0 then
  redis.call('RPUSH', KEYS[14], unpack(events))
  redis.call('LTRIM', KEYS[14], -1000, -1)
  redis.call('EXPIRE', KEYS[14], ttl)
end

-- ==== Field pin inventory (SPEC section 12) ================================================
-- Which pin sets which app builds carry. A member INVKEY is the JSON
-- [app id, version, platform, [pins], expiration]; per member: reports, first/last seen and
-- a device sketch, all-time and per day (IID: first 16 hex of SHA-1 of INVKEY; the writer
-- names the keys, this script derives only an evicted member's). At most `cap` members: a new
-- one past the cap replaces the least recently seen member if that one was last seen more
-- than the retention ago, else it is counted as other (`o` fields, the inv:other HLL).
-- The device sketch is a fixed-size HyperLogLog of 4000 one-byte registers; the writer
-- computes each device's register (aggregates/merge.py register), this script keeps the
-- maximum per register; aggregates/read/sketch.py merges and counts them.
local INV_M = 4000
local base = string.sub(prefix, 1, -6)  -- prefix is base .. 'pair:'
local function sketch(key, regs)  -- max the stored registers with regs (created full size)
  local cur = sketches[key]
  local fresh = not cur
  if fresh then  -- INV_M zero registers, made by Redis (no 4000-byte string built in Lua)
    redis.call('SETRANGE', key, INV_M - 1, '\0')
    cur = ''
  end
  local up, rank_of = {}, {}
  for i = 1, #regs, 3 do
    local h, l, rank = string.byte(regs, i, i + 2)
    local idx = h * 256 + l
    if (string.byte(cur, idx + 1) or 0) < rank then up[#up + 1] = idx; rank_of[idx] = rank end
  end
  if #up == 0 then return end
  if not fresh and #up > 8 then  -- many registers: write the whole sketch back in one SET
    table.sort(up)
    local pieces, pos = {}, 1
    for _, idx in ipairs(up) do
      pieces[#pieces + 1] = string.sub(cur, pos, idx)
      pieces[#pieces + 1] = string.char(rank_of[idx])
      pos = idx + 2
    end
    pieces[#pieces + 1] = string.sub(cur, pos)
    local value = table.concat(pieces)
    if #value < INV_M then value = value .. string.rep('\0', INV_M - #value) end
    redis.call('SET', key, value, 'KEEPTTL')
  else
    local set = {}
    for _, idx in ipairs(up) do
      set[#set + 1] = 'SET'; set[#set + 1] = 'u8'; set[#set + 1] = FMT('#%d', idx)
      set[#set + 1] = FMT('%d', rank_of[idx])
    end
    redis.call('BITFIELD', key, unpack(set))
  end
end
local seen_out = {}
local function evict(m)  -- a member last seen before the retention: its counts go to other
  local nm = seen_out['n' .. m]
  if nm == nil then nm = tonumber(redis.call('HGET', inv.seen, 'n' .. m) or '0') or 0 end
  seen_out['n' .. m], seen_out['f' .. m] = nil, nil
  redis.call('ZREM', inv.zset, m)
  redis.call('HDEL', inv.seen, 'n' .. m, 'f' .. m)
  redis.call('HINCRBY', inv.seen, 'o', nm)
  redis.call('PFADD', inv.other, m)
  redis.call('DEL', base .. 'inv:d:' .. string.sub(redis.sha1hex(m), 1, 16))
end
if #inv.members > 0 then
  local card, went_other, evicted = nil, false, {}
  local nnew = 0
  for _, e in ipairs(inv.members) do if not e.last then nnew = nnew + 1 end end
  if nnew > 0 then card = redis.call('ZCARD', inv.zset) end
  -- Without a new member past the cap nothing is evicted: the last-seen times go in one ZADD.
  local later = nnew == 0 or card + nnew <= cap
  local zadd = {}
  for _, e in ipairs(inv.members) do  -- in member order (the writer sorts them)
    local m, last = e.m, e.last
    if evicted[m] then
      last, e.seen_n, e.seen_f, sketches[e.key] = nil, nil, nil, false
    end
    if not last and card >= cap then
      local oldest = redis.call('ZRANGE', inv.zset, 0, 0, 'WITHSCORES')
      if #oldest == 2 and tonumber(oldest[2]) < hi - retention * 1000 then
        evict(oldest[1]); evicted[oldest[1]] = true; card = card - 1; went_other = true
      end
    end
    if last or card < cap then
      if not last then card = card + 1 end
      if not last or e.hi > last then
        if later then zadd[#zadd + 1] = int(e.hi); zadd[#zadd + 1] = m
        else redis.call('ZADD', inv.zset, e.hi, m) end
      end
      seen_out['n' .. m] = (e.seen_n or 0) + e.n
      if e.seen_f == nil or e.lo < e.seen_f then seen_out['f' .. m] = e.lo end
      for _, ed in ipairs(e.days) do
        local cur = inv.days[ed.hkey]
        local out = cur.out
        out['n' .. m] = (cur['n' .. m] or 0) + ed.n
        if cur['f' .. m] == nil or ed.lo < cur['f' .. m] then out['f' .. m] = ed.lo end
        if cur['l' .. m] == nil or ed.hi > cur['l' .. m] then out['l' .. m] = ed.hi end
        sketch(ed.key, ed.regs)
        if not sketches[ed.key] then redis.call('EXPIREAT', ed.key, ed.expire) end
      end
      sketch(e.key, e.regs)
      if not sketches[e.key] or due(last, e.hi, period) then
        redis.call('EXPIRE', e.key, ttl)
      end
    else
      went_other = true
      redis.call('HINCRBY', inv.seen, 'o', e.n)
      redis.call('PFADD', inv.other, m)
      for _, ed in ipairs(e.days) do redis.call('HINCRBY', ed.hkey, 'o', ed.n) end
    end
  end
  if #zadd > 0 then redis.call('ZADD', inv.zset, unpack(zadd)) end
  local args = {}
  for f, v in pairs(seen_out) do args[#args + 1] = f; args[#args + 1] = int(v) end
  if #args > 0 then redis.call('HSET', inv.seen, unpack(args)) end
  local expire = {}
  for _, e in ipairs(inv.members) do for _, ed in ipairs(e.days) do expire[ed.hkey] = ed.expire end end
  for _, cur in ipairs(inv.days) do
    args = {}
    for f, v in pairs(cur.out) do args[#args + 1] = f; args[#args + 1] = int(v) end
    if #args > 0 then redis.call('HSET', cur.key, unpack(args)) end
    -- a day key's expiry is fixed (end of DAY + R): set when the call creates it, after
    -- every write of the call (an expiry already past deletes the key)
    if cur.new then redis.call('EXPIREAT', cur.key, expire[cur.key]) end
  end
  keep(inv.zset, inv.new)
  keep(inv.seen, inv.seen_new)
  if went_other then redis.call('EXPIRE', inv.other, ttl) end
end
if refresh then  -- every fixed key of the host but the events list
  for i = 1, 13 do redis.call('EXPIRE', KEYS[i], ttl) end
  redis.call('EXPIRE', inv.zset, ttl)
  redis.call('EXPIRE', inv.seen, ttl)
end
for _, key in ipairs(expire_at_end) do redis.call('EXPIRE', key, ttl) end
return reply(n + ntest, events)
