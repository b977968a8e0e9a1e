-- Apply one report to its host's aggregates, once. All keys share the host's hash tag.
-- KEYS[1] meta  [2] devices  [3] chains  [4] apps  [5] results  [6] enforce  [7] pinsets
--     [8] breaking  [9] breaking:apps  [10] applied  [11] day hash  [12] day devices
-- ARGV[1] writer id  [2] sequence  [3] received (ms)  [4] hour "HH"  [5] day expire-at (unix s)
--     [6] retention (s)  [7] per-host cap  [8] hostname  [9] chain FP  [10] app key
--     [11] validation result  [12] enforcement  [13] pin-set key  [14] device  [15] breaking 0/1
--     [16] app version
-- Returns 1 when applied, 0 when this (writer, sequence) was already applied, or an error
-- reply before any write when a key has the wrong type.
local applied = tonumber(redis.call('HGET', KEYS[10], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= applied then return 0 end

local want = {'hash', 'string', 'zset', 'zset', 'hash', 'hash', 'zset', 'string', 'zset',
              'hash', 'hash', 'string'}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= want[i] then
    return redis.error_reply('WRONGTYPE collector key ' .. i)
  end
end

local cap = tonumber(ARGV[7])
local function capped(key, member)
  if not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= cap then
    member = 'other'
  end
  redis.call('ZINCRBY', key, 1, member)
  return member
end

local now = tonumber(ARGV[3])
redis.call('HINCRBY', KEYS[1], 'reports', 1)
redis.call('HSETNX', KEYS[1], 'hostname', ARGV[8])
local first = tonumber(redis.call('HGET', KEYS[1], 'first_seen') or now)
if now <= first then redis.call('HSET', KEYS[1], 'first_seen', now) end
local last = tonumber(redis.call('HGET', KEYS[1], 'last_seen') or 0)
if now > last then redis.call('HSET', KEYS[1], 'last_seen', now) end
redis.call('PFADD', KEYS[2], ARGV[14])
local fp = capped(KEYS[3], ARGV[9])
local app = capped(KEYS[4], ARGV[10])
redis.call('HINCRBY', KEYS[5], ARGV[11], 1)
redis.call('HINCRBY', KEYS[6], ARGV[12], 1)
local pins = capped(KEYS[7], ARGV[13])
if ARGV[15] == '1' then
  redis.call('PFADD', KEYS[8], ARGV[14])
  capped(KEYS[9], ARGV[16])
end
redis.call('HSET', KEYS[10], ARGV[1], ARGV[2])

local day = KEYS[11]
redis.call('HINCRBY', day, 'n', 1)
redis.call('HINCRBY', day, 'h' .. ARGV[4], 1)
redis.call('HINCRBY', day, 'c' .. fp, 1)
redis.call('HINCRBY', day, 'a' .. app, 1)
redis.call('HINCRBY', day, 'r' .. ARGV[11], 1)
redis.call('HINCRBY', day, 'e' .. ARGV[12], 1)
redis.call('HINCRBY', day, 'p' .. pins, 1)
redis.call('PFADD', KEYS[12], ARGV[14])

for i = 1, 10 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
redis.call('EXPIREAT', KEYS[11], ARGV[5])
redis.call('EXPIREAT', KEYS[12], ARGV[5])
return 1
