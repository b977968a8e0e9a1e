-- Apply one report to the global rankings and its chain's record, once. Keys share {g}.
-- KEYS[1] totals  [2] hosts  [3] hosts:last  [4] chains  [5] classes  [6] devices
--     [7] applied  [8] day hash  [9] day hosts  [10] day chains  [11] day devices
--     [12] chain hash  [13] chain hosts  [14..] one key per certificate of the chain
-- ARGV[1] writer id  [2] sequence  [3] received (ms)  [4] hour "HH"  [5] day expire-at (unix s)
--     [6] retention (s)  [7] chain-hosts cap  [8] hostname  [9] chain FP  [10] device
--     [11] classification  [12] label  [13] comma-separated certificate hashes  [14] port
--     [15..] the DER of each certificate, in KEYS order
-- Returns 1 when applied, 0 when already applied, or an error before any write.
local applied = tonumber(redis.call('HGET', KEYS[7], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= applied then return 0 end

local want = {'hash', 'zset', 'zset', 'zset', 'hash', 'string', 'hash', 'hash', 'zset', 'zset',
              'string', 'hash', 'zset'}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= (want[i] or 'string') then
    return redis.error_reply('WRONGTYPE collector key ' .. i)
  end
end

local now = tonumber(ARGV[3])
local host, fp, class = ARGV[8], ARGV[9], ARGV[11]
redis.call('HINCRBY', KEYS[1], 'reports', 1)
redis.call('ZINCRBY', KEYS[2], 1, host)
local last = tonumber(redis.call('ZSCORE', KEYS[3], host) or 0)
if now > last then redis.call('ZADD', KEYS[3], now, host) end
redis.call('ZINCRBY', KEYS[4], 1, fp)
redis.call('HINCRBY', KEYS[5], class, 1)
redis.call('PFADD', KEYS[6], ARGV[10])
redis.call('HSET', KEYS[7], ARGV[1], ARGV[2])

redis.call('HINCRBY', KEYS[8], 'n', 1)
redis.call('HINCRBY', KEYS[8], 'h' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[8], 'k' .. class, 1)
redis.call('ZINCRBY', KEYS[9], 1, host)
redis.call('ZINCRBY', KEYS[10], 1, fp)
redis.call('PFADD', KEYS[11], ARGV[10])

local chain = KEYS[12]
redis.call('HINCRBY', chain, 'reports', 1)
if redis.call('HSETNX', chain, 'first_seen', now) == 0 then
  if now < tonumber(redis.call('HGET', chain, 'first_seen')) then
    redis.call('HSET', chain, 'first_seen', now)
  end
end
if now > tonumber(redis.call('HGET', chain, 'last_seen') or 0) then
  redis.call('HSET', chain, 'last_seen', now)
end
redis.call('HSETNX', chain, 'classification', class)
redis.call('HSETNX', chain, 'label', ARGV[12])
redis.call('HSETNX', chain, 'certs', ARGV[13])
redis.call('HSETNX', chain, 'port', ARGV[14])
if redis.call('ZSCORE', KEYS[13], host) or redis.call('ZCARD', KEYS[13]) < tonumber(ARGV[7]) then
  redis.call('ZINCRBY', KEYS[13], 1, host)
else
  redis.call('ZINCRBY', KEYS[13], 1, 'other')
end

for i = 14, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'NX')
  redis.call('EXPIRE', KEYS[i], ARGV[6])
end
for i = 2, 7 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
redis.call('EXPIRE', KEYS[12], ARGV[6])
redis.call('EXPIRE', KEYS[13], ARGV[6])
for i = 8, 11 do redis.call('EXPIREAT', KEYS[i], ARGV[5]) end
return 1
