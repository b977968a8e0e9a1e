-- Apply a batch of reports to the global rankings and to their chains. Keys share {g}.
-- KEYS[1] totals  [2] hosts  [3] hosts:last  [4] chains  [5] classes  [6] devices  [7] applied,
--     then per day: day hash, day hosts, day chains, day devices,
--     then per chain: chain hash, chain hosts, one key per certificate
-- ARGV[1] writer id  [2] retention (s)  [3] chain-hosts cap  [4] number of days
--     [5 .. 4+days] expire-at (unix s) of each day's keys, then the number of chains, then per
--     chain: FP, classification, label, port, number of certificates, each certificate's DER;
--     then one argument per report holding 7 tab-separated fields: sequence, received (ms),
--     day index, hour "HH", hostname, chain index, device
-- Returns how many reports were new; errors before any write on a wrong key type.
local writer, retention, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nd = tonumber(ARGV[4])
local want = {'hash', 'zset', 'zset', 'zset', 'hash', 'string', 'hash'}
local day_want = {'hash', 'zset', 'zset', 'string'}

-- Walk the chain section to find each chain's keys and values.
local a, k = 5 + nd, 8 + 4 * nd
local nc = tonumber(ARGV[a]); a = a + 1
local chains = {}
for c = 1, nc do
  local ch = {fp = ARGV[a], class = ARGV[a + 1], label = ARGV[a + 2], port = ARGV[a + 3],
              key = KEYS[k], hosts = KEYS[k + 1], certs = {}, ders = {}}
  local ncerts = tonumber(ARGV[a + 4])
  a, k = a + 5, k + 2
  for j = 1, ncerts do
    table.insert(ch.certs, KEYS[k]); table.insert(ch.ders, ARGV[a])
    a, k = a + 1, k + 1
  end
  chains[c] = ch
end

for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  local w = want[i]
  if w == nil and i < 8 + 4 * nd then w = day_want[(i - 8) % 4 + 1] end
  if t ~= 'none' and w ~= nil and t ~= w then
    return redis.error_reply('WRONGTYPE collector key ' .. KEYS[i])
  end
end

local applied = tonumber(redis.call('HGET', KEYS[7], writer) or '0')
local n, top = 0, applied
local hosts, hlast, fps, classes, devs, days, per_chain = {}, {}, {}, {}, {}, {}, {}
for i = a, #ARGV do
  local f = split(ARGV[i])
  local seq = tonumber(f[1])
  if seq > applied then
    n = n + 1
    if seq > top then top = seq end
    local ms, d, host = tonumber(f[2]), tonumber(f[3]), f[5]
    local ch = chains[tonumber(f[6])]
    inc(hosts, host); inc(fps, ch.fp); inc(classes, ch.class)
    table.insert(devs, f[7])
    if ms > (hlast[host] or 0) then hlast[host] = ms end
    local pc = per_chain[ch.fp]
    if pc == nil then pc = {ch = ch, n = 0, lo = ms, hi = ms, hosts = {}}; per_chain[ch.fp] = pc end
    pc.n = pc.n + 1
    if ms < pc.lo then pc.lo = ms end
    if ms > pc.hi then pc.hi = ms end
    inc(pc.hosts, host)
    local day = days[d]
    if day == nil then day = {n = 0, h = {}, k = {}, hosts = {}, fps = {}, devs = {}}; days[d] = day end
    table.insert(day.devs, f[7])
    day.n = day.n + 1
    inc(day.h, f[4]); inc(day.k, ch.class); inc(day.hosts, host); inc(day.fps, ch.fp)
  end
end
if n == 0 then return 0 end

redis.call('HINCRBY', KEYS[1], 'reports', n)
for h, c in pairs(hosts) do redis.call('ZINCRBY', KEYS[2], c, h) end
for h, ms in pairs(hlast) do
  if ms > tonumber(redis.call('ZSCORE', KEYS[3], h) or 0) then redis.call('ZADD', KEYS[3], ms, h) end
end
for fp, c in pairs(fps) do redis.call('ZINCRBY', KEYS[4], c, fp) end
for cl, c in pairs(classes) do redis.call('HINCRBY', KEYS[5], cl, c) end
redis.call('PFADD', KEYS[6], unpack(devs))
redis.call('HSET', KEYS[7], writer, top)
for i = 2, 7 do redis.call('EXPIRE', KEYS[i], retention) end

for d, day in pairs(days) do
  local b = 8 + 4 * (d - 1)
  redis.call('HINCRBY', KEYS[b], 'n', day.n)
  for h, c in pairs(day.h) do redis.call('HINCRBY', KEYS[b], 'h' .. h, c) end
  for cl, c in pairs(day.k) do redis.call('HINCRBY', KEYS[b], 'k' .. cl, c) end
  for h, c in pairs(day.hosts) do redis.call('ZINCRBY', KEYS[b + 1], c, h) end
  for fp, c in pairs(day.fps) do redis.call('ZINCRBY', KEYS[b + 2], c, fp) end
  redis.call('PFADD', KEYS[b + 3], unpack(day.devs))
  for j = 0, 3 do redis.call('EXPIREAT', KEYS[b + j], ARGV[4 + d]) end
end

for _, pc in pairs(per_chain) do
  local ch = pc.ch
  redis.call('HINCRBY', ch.key, 'reports', pc.n)
  local first = tonumber(redis.call('HGET', ch.key, 'first_seen') or pc.lo)
  if pc.lo <= first then redis.call('HSET', ch.key, 'first_seen', pc.lo) end
  if pc.hi > tonumber(redis.call('HGET', ch.key, 'last_seen') or 0) then
    redis.call('HSET', ch.key, 'last_seen', pc.hi)
  end
  if redis.call('HSETNX', ch.key, 'classification', ch.class) == 1 then
    local hashes = {}
    for j, key in ipairs(ch.certs) do
      redis.call('SET', key, ch.ders[j], 'NX')
      table.insert(hashes, string.sub(key, -64))
    end
    redis.call('HSET', ch.key, 'label', ch.label, 'port', ch.port,
               'certs', table.concat(hashes, ','))
  end
  local card = redis.call('ZCARD', ch.hosts)
  for h, c in pairs(pc.hosts) do
    local target = h
    if not redis.call('ZSCORE', ch.hosts, h) then
      if card >= cap then target = 'other' else card = card + 1 end
    end
    redis.call('ZINCRBY', ch.hosts, c, target)
  end
  redis.call('EXPIRE', ch.key, retention)
  redis.call('EXPIRE', ch.hosts, retention)
  for _, key in ipairs(ch.certs) do redis.call('EXPIRE', key, retention) end
end
return n
