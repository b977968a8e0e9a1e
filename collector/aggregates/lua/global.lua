-- Apply a batch of reports to the global rankings and to their chains. Keys share {g}.
-- KEYS[1] totals  [2] hosts  [3] hosts:last  [4] chains  [5] classes  [6] devices  [7] applied
--     [8] hosts:failing  [9] chains:last  [10] hosts:breaking, then per day: day hash, day
--     hosts, day chains, day devices, day failing, day breaking; then per chain: chain hash,
--     chain hosts, per day the chain's day hash and day hosts, then one key per certificate
-- ARGV[1] writer id  [2] retention (s)  [3] chain-hosts cap  [4] number of days
--     [5 .. 4+days] expire-at (unix s) of each day's keys, then the number of chains, then per
--     chain: FP, the chain's own classification, label, classifier version, port, number of
--     certificates, each certificate's DER; then one argument per report holding 10
--     tab-separated fields: sequence, received (ms), device, day index, hour "HH", hostname,
--     chain index (0 for a test report), pair classification, risk ("F" enforcing / "B"
--     report-only client on a public-trust pair, else "0"), "1" for a test report else "0"
-- Returns how many reports were new; errors before any write on a wrong key type.
local writer, retention, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nd = tonumber(ARGV[4])
local NFIXED, DAYW = 10, 6
local want = {'hash', 'zset', 'zset', 'zset', 'hash', 'string', 'hash', 'zset', 'zset', 'zset'}
for d = 1, nd do
  local b = NFIXED + DAYW * (d - 1)
  want[b + 1], want[b + 2], want[b + 3], want[b + 4], want[b + 5], want[b + 6] =
    'hash', 'zset', 'zset', 'string', 'zset', 'zset'
end

-- Walk the chain section to find each chain's keys and values.
local a, k = 5 + nd, NFIXED + 1 + DAYW * nd
local nc = tonumber(ARGV[a]); a = a + 1
local chains = {}
for c = 1, nc do
  local ch = {fp = ARGV[a], class = ARGV[a + 1], label = ARGV[a + 2], cv = ARGV[a + 3],
              port = ARGV[a + 4], key = KEYS[k], hosts = KEYS[k + 1], dkeys = {}, dhosts = {},
              certs = {}, ders = {}}
  want[k], want[k + 1] = 'hash', 'zset'
  local ncerts = tonumber(ARGV[a + 5])
  a, k = a + 6, k + 2
  for d = 1, nd do
    ch.dkeys[d], ch.dhosts[d] = KEYS[k], KEYS[k + 1]
    want[k], want[k + 1] = 'hash', 'zset'
    k = k + 2
  end
  for j = 1, ncerts do
    table.insert(ch.certs, KEYS[k]); table.insert(ch.ders, ARGV[a])
    want[k] = 'string'
    a, k = a + 1, k + 1
  end
  chains[c] = ch
end

local wrong = check_types(want)
if wrong then return wrong end

local applied = tonumber(redis.call('HGET', KEYS[7], writer) or '0')
local groups, top = reports_after(applied, a)
local n, ntest = 0, 0
local hosts, hlast, fps, classes, devs, days, per_chain = {}, {}, {}, {}, {}, {}, {}
local failing, breaking, tdays = {}, {}, {}
for rest, g in pairs(groups) do
  local f = split(rest)
  local k, d = g.n, tonumber(f[1])
  if f[7] == '1' then
    ntest = ntest + k
    inc(tdays, d, k)
  else
    n = n + k
    local host, ch = f[3], chains[tonumber(f[4])]
    inc(hosts, host, k); inc(fps, ch.fp, k); inc(classes, f[5], k)
    append(devs, g.devs)
    if g.hi > (hlast[host] or 0) then hlast[host] = g.hi end
    local pc = per_chain[ch.fp]
    if pc == nil then
      pc = {ch = ch, n = 0, lo = g.lo, hi = g.hi, hosts = {}, days = {}}
      per_chain[ch.fp] = pc
    end
    pc.n = pc.n + k
    if g.lo < pc.lo then pc.lo = g.lo end
    if g.hi > pc.hi then pc.hi = g.hi end
    inc(pc.hosts, host, k)
    local cd = pc.days[d]
    if cd == nil then cd = {n = 0, h = {}, hosts = {}, lo = g.lo, hi = g.hi}; pc.days[d] = cd end
    cd.n = cd.n + k
    if g.lo < cd.lo then cd.lo = g.lo end
    if g.hi > cd.hi then cd.hi = g.hi end
    inc(cd.h, f[2], k); inc(cd.hosts, host, k)
    local day = days[d]
    if day == nil then
      day = {n = 0, h = {}, k = {}, hosts = {}, fps = {}, devs = {}, failing = {}, breaking = {}}
      days[d] = day
    end
    append(day.devs, g.devs)
    day.n = day.n + k
    inc(day.h, f[2], k); inc(day.k, f[5], k); inc(day.hosts, host, k); inc(day.fps, ch.fp, k)
    if f[6] == 'F' then inc(failing, host, k); inc(day.failing, host, k) end
    if f[6] == 'B' then inc(breaking, host, k); inc(day.breaking, host, k) end
  end
end
if n + ntest == 0 then return 0 end

-- Test reports: the total, and a field of the day hash so a window can count them; no more.
if ntest > 0 then redis.call('HINCRBY', KEYS[1], 'test_reports', ntest) end
for d, c in pairs(tdays) do
  local key = KEYS[NFIXED + DAYW * (d - 1) + 1]
  redis.call('HINCRBY', key, 'test_reports', c)
  redis.call('EXPIREAT', key, ARGV[4 + d])
end
redis.call('HSET', KEYS[7], writer, top)
redis.call('EXPIRE', KEYS[7], retention)
if n == 0 then return ntest end

redis.call('HINCRBY', KEYS[1], 'reports', n)
for h, c in pairs(hosts) do redis.call('ZINCRBY', KEYS[2], c, h) end
for h, ms in pairs(hlast) do
  if ms > tonumber(redis.call('ZSCORE', KEYS[3], h) or 0) then
    redis.call('ZADD', KEYS[3], ms, h)
  end
end
for fp, c in pairs(fps) do redis.call('ZINCRBY', KEYS[4], c, fp) end
for cl, c in pairs(classes) do redis.call('HINCRBY', KEYS[5], cl, c) end
redis.call('PFADD', KEYS[6], unpack(devs))
for h, c in pairs(failing) do redis.call('ZINCRBY', KEYS[8], c, h) end
for h, c in pairs(breaking) do redis.call('ZINCRBY', KEYS[10], c, h) end
for fp, pc in pairs(per_chain) do
  if pc.hi > tonumber(redis.call('ZSCORE', KEYS[9], fp) or 0) then
    redis.call('ZADD', KEYS[9], pc.hi, fp)
  end
end
for i = 2, 6 do redis.call('EXPIRE', KEYS[i], retention) end
redis.call('EXPIRE', KEYS[9], retention)
if next(failing) then redis.call('EXPIRE', KEYS[8], retention) end
if next(breaking) then redis.call('EXPIRE', KEYS[10], retention) end

for d, day in pairs(days) do
  local b = NFIXED + DAYW * (d - 1)
  redis.call('HINCRBY', KEYS[b + 1], 'n', day.n)
  for h, c in pairs(day.h) do redis.call('HINCRBY', KEYS[b + 1], 'h' .. h, c) end
  for cl, c in pairs(day.k) do redis.call('HINCRBY', KEYS[b + 1], 'k' .. cl, c) end
  for h, c in pairs(day.hosts) do redis.call('ZINCRBY', KEYS[b + 2], c, h) end
  for fp, c in pairs(day.fps) do redis.call('ZINCRBY', KEYS[b + 3], c, fp) end
  redis.call('PFADD', KEYS[b + 4], unpack(day.devs))
  for h, c in pairs(day.failing) do redis.call('ZINCRBY', KEYS[b + 5], c, h) end
  for h, c in pairs(day.breaking) do redis.call('ZINCRBY', KEYS[b + 6], c, h) end
  for j = 1, 4 do redis.call('EXPIREAT', KEYS[b + j], ARGV[4 + d]) end
  if next(day.failing) then redis.call('EXPIREAT', KEYS[b + 5], ARGV[4 + d]) end
  if next(day.breaking) then redis.call('EXPIREAT', KEYS[b + 6], ARGV[4 + d]) end
end

for _, pc in pairs(per_chain) do
  local ch = pc.ch
  redis.call('HINCRBY', ch.key, 'reports', pc.n)
  -- The chain's own class is overwritten on every write, with the version that decided it.
  span(ch.key, 'first_seen', 'last_seen', pc.lo, pc.hi,
       {'classification', ch.class, 'label', ch.label, 'cv', ch.cv})
  if redis.call('HEXISTS', ch.key, 'certs') == 0 then
    local hashes = {}
    for j, key in ipairs(ch.certs) do
      redis.call('SET', key, ch.ders[j], 'NX')
      table.insert(hashes, string.sub(key, -64))
    end
    redis.call('HSET', ch.key, 'port', ch.port, 'certs', table.concat(hashes, ','))
  end
  capped(ch.hosts, pc.hosts, cap)
  redis.call('EXPIRE', ch.key, retention)
  redis.call('EXPIRE', ch.hosts, retention)
  for _, key in ipairs(ch.certs) do redis.call('EXPIRE', key, retention) end
  for d, cd in pairs(pc.days) do
    local dk, dh = ch.dkeys[d], ch.dhosts[d]
    redis.call('HINCRBY', dk, 'n', cd.n)
    for h, c in pairs(cd.h) do redis.call('HINCRBY', dk, 'h' .. h, c) end
    span(dk, 'first', 'last', cd.lo, cd.hi)
    capped(dh, cd.hosts, cap)
    redis.call('EXPIREAT', dk, ARGV[4 + d])
    redis.call('EXPIREAT', dh, ARGV[4 + d])
  end
end
return n + ntest
