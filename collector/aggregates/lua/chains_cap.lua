-- chains_cap: may one more report with this chain come from this source this hour?
-- KEYS[1]: the set of chain ids accepted from the source this hour.
-- ARGV[1]: the chain id (an integer, so the set stays a compact intset); ARGV[2]: the cap;
-- ARGV[3]: seconds the set lives (to the end of the hour, plus a margin).
-- Returns 1 (a chain already seen, or a new one under the cap: recorded) or 0 (over the cap).
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
