-- Apply a merged batch (aggregates/merge.py global_call) to the unsharded global keys: the
-- totals, the classes, the device HyperLogLogs and the daily hash. Keys share {g}.
-- KEYS[1] totals [2] classes [3] devices [4] applied, then per day: day hash, day devices.
-- ARGV[1] writer [2] first and [3] last sequence of the batch [4] retention (s) [5] reports
--   in the batch (test reports included) [6] where the device pool starts; then the totals'
--   and the classes' updates, the devices (offset and count in the pool), the number of days
--   and per day its expire-at (unix s), its two keys' numbers, its hash updates, its devices.
-- Returns how many reports were new, or {-1, mark} when the writer's mark in this slot falls
-- inside the batch; errors before any write on a wrong key type.
local writer, seq_lo, seq_hi = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local retention, count, pool = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl = ARGV[4]  -- the retention as Redis takes it (no number formatting)
A = 7
local mark, err = applied_mark(KEYS[4], writer)
if err then return err end
if mark >= seq_hi then return 0 end
if mark >= seq_lo then return {-1, mark} end

local totals = parse_hash(KEYS[1])
local classes = parse_hash(KEYS[2])
local off = num()
local devs = {off, num()}
local days = {}
for d = 1, num() do
  local day = {}
  day.expire = nxt()
  day.key = KEYS[num()]
  day.dkey = KEYS[num()]
  day.h = parse_hash(day.key)
  off = num()
  day.devs = {off, num()}
  days[d] = day
end

for _, h in ipairs({totals, classes}) do err = read_hash(h); if err then return err end end
local _
if devs[2] > 0 then _, err = read_type(KEYS[3], 'string'); if err then return err end end
for _, day in ipairs(days) do
  err = read_hash(day.h)
  if err then return err end
  if day.devs[2] > 0 then
    day.dnew, err = read_type(day.dkey, 'string')
    if err then return err end
  end
end

write_hash(totals, {})
redis.call('HSET', KEYS[4], writer, ARGV[3])
redis.call('EXPIRE', KEYS[4], ttl)
if classes.n > 0 then
  write_hash(classes, {})
  redis.call('EXPIRE', KEYS[2], ttl)
end
if devs[2] > 0 then
  pfadd(KEYS[3], pool, devs[1], devs[2])
  redis.call('EXPIRE', KEYS[3], ttl)
end
for _, day in ipairs(days) do
  write_hash(day.h, {})
  if day.h.new then redis.call('EXPIREAT', day.key, day.expire) end
  if day.devs[2] > 0 then
    pfadd(day.dkey, pool, day.devs[1], day.devs[2])
    if day.dnew then redis.call('EXPIREAT', day.dkey, day.expire) end
  end
end
return count
