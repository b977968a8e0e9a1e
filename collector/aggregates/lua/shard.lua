-- Apply a merged batch (aggregates/merge.py shard_call) to one global shard {g:T}: the
-- rankings of the hosts that live in it and the rankings and records of its chains.
-- KEYS[1] applied [2] hosts [3] hosts:last [4] hosts:failing [5] hosts:breaking [6] chains
--   [7] chains:last; every other key is numbered by its argument.
-- ARGV[1] writer [2] first and [3] last sequence of the batch [4] retention (s) [5] cap of a
--   chain's host lists [6] TTL refresh period (ms) [7] reports in the batch; then the
--   increments of hosts, hosts:last (maxima), hosts:failing, hosts:breaking, chains and
--   chains:last (maxima), each as a count and member/value pairs; the number of days and per
--   day its expire-at and, for its hosts, chains, failing and breaking rankings, a key number
--   (0: none) and its increments; the number of chains and per chain its hash's and host
--   list's key numbers, port, certificate hashes (comma-separated), hash updates, host
--   increments, number of days and per day: expire-at, day hash and day host list key
--   numbers, hash updates, host increments.
-- Returns how many reports were new, or {-1, mark} when the writer's mark in this slot falls
-- inside the batch; errors before any write on a wrong key type.
local writer, seq_lo, seq_hi = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local retention, cap, period = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl = ARGV[4]  -- the retention as Redis takes it (no number formatting)
local count = tonumber(ARGV[7])
A = 8
local mark, err = applied_mark(KEYS[1], writer)
if err then return err end
if mark >= seq_hi then return 0 end
if mark >= seq_lo then return {-1, mark} end

local ranks = {}  -- KEYS[2..7]
for i = 2, 7 do
  ranks[i] = parse_counts()
  ranks[i].key, ranks[i].max = KEYS[i], i == 3 or i == 7
end
local days = {}
for d = 1, num() do
  local day = {zsets = {}}
  day.expire = nxt()
  for j = 1, 4 do
    local k = num()
    local counts = parse_counts()
    if k > 0 then
      counts.key = KEYS[k]
      day.zsets[#day.zsets + 1] = counts
    end
  end
  days[d] = day
end
local chains = {}
for c = 1, num() do
  local ch = {days = {}}
  ch.key = KEYS[num()]
  local hosts_key = KEYS[num()]
  ch.port = nxt()
  ch.certs = nxt()
  ch.h = parse_hash(ch.key)
  ch.hosts = parse_counts()
  ch.hosts.key = hosts_key
  add_op(ch.h, OP_READ, 'certs', '')
  for d = 1, num() do
    local cd = {}
    cd.expire = nxt()
    cd.key = KEYS[num()]
    local day_hosts_key = KEYS[num()]
    cd.h = parse_hash(cd.key)
    cd.hosts = parse_counts()
    cd.hosts.key = day_hosts_key
    ch.days[d] = cd
  end
  chains[c] = ch
end

-- read: every key the batch writes, which checks its type
for i = 2, 7 do err = read_zset(ranks[i]); if err then return err end end
for _, day in ipairs(days) do
  for _, z in ipairs(day.zsets) do err = read_zset(z); if err then return err end end
end
for _, ch in ipairs(chains) do
  err = read_hash(ch.h)
  if err then return err end
  err = read_zset(ch.hosts)
  if err then return err end
  for _, cd in ipairs(ch.days) do
    err = read_hash(cd.h)
    if err then return err end
    err = read_zset(cd.hosts)
    if err then return err end
  end
end

-- write. "R after last write": the shard's rankings get their TTL when created, and all of
-- them again when a member's last seen moves to a later period (or a member is new).
local refresh = mark == 0
for _, i in ipairs({3, 7}) do  -- hosts:last, chains:last
  for m, ms in zset_counts(ranks[i]) do
    if due(ranks[i].cur[m], ms, period) then refresh = true end
  end
end
redis.call('HSET', KEYS[1], writer, ARGV[3])
for i = 2, 7 do
  local z = ranks[i]
  if z.n > 0 then
    if z.max then  -- last seen: keep the latest
      local args = {}
      for m, ms in zset_counts(z) do
        local was = z.cur[m]
        if was == nil or ms > was then args[#args + 1] = ms; args[#args + 1] = m end
      end
      if #args > 0 then redis.call('ZADD', z.key, unpack(args)) end
    else
      write_zset(z, nil)
    end
    if z.new and not refresh then redis.call('EXPIRE', z.key, ttl) end
  end
end
if refresh then for i = 1, 7 do redis.call('EXPIRE', KEYS[i], ttl) end end
for _, day in ipairs(days) do
  for _, z in ipairs(day.zsets) do
    write_zset(z, nil)
    if z.new then redis.call('EXPIREAT', z.key, day.expire) end
  end
end
for _, ch in ipairs(chains) do
  local hi = tonumber(field_value(ch.h, 'last_seen')) or 0
  local refresh = ch.h.new or due(stored(ch.h, 'last_seen'), hi, period)
  if not stored(ch.h, 'certs') then  -- the chain's certificates: as it was first seen
    add_op(ch.h, OP_SET, 'port', ch.port)
    add_op(ch.h, OP_SET, 'certs', ch.certs)
  end
  write_hash(ch.h, {})
  write_zset(ch.hosts, cap)
  if refresh then redis.call('EXPIRE', ch.key, ttl) end
  if refresh or ch.hosts.new then redis.call('EXPIRE', ch.hosts.key, ttl) end
  for _, cd in ipairs(ch.days) do
    write_hash(cd.h, {})
    write_zset(cd.hosts, cap)
    if cd.h.new then redis.call('EXPIREAT', cd.key, cd.expire) end
    if cd.hosts.new then redis.call('EXPIREAT', cd.hosts.key, cd.expire) end
  end
end
return count
