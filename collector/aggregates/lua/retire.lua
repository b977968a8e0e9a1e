-- Retire dead writers: record when, and drop their idempotency marks from the global slot.
-- The caller has established that no record of theirs can be replayed any more (see
-- retention.py). Keys share {g}.
-- KEYS[1] applied  [2] retired
-- ARGV[1] now (ms)  [2] TTL of retired (s), then the writer ids
-- Returns how many ids were newly retired.
local wrong = check_types({'hash', 'zset'})
if wrong then return wrong end
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
if #ARGV > 2 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return n
