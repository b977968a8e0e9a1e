-- Retention of one global shard {g:T}: hosts and chains not seen since the cutoff leave its
-- rankings, a bounded number per call. Nothing here is ever run on a request path.
-- KEYS[1] hosts [2] hosts:last [3] hosts:failing [4] hosts:breaking [5] chains [6] chains:last
-- ARGV[1] cutoff (ms): last seen before it is stale [2] limit: at most this many members per
--     ranking per call
-- Returns {hosts trimmed, chains trimmed}. A key of the wrong type is an error before any
-- write.
local limit = tonumber(ARGV[2])
for i = 1, 6 do
  local _, err = read_type(KEYS[i], 'zset')
  if err then return err end
end
local stale = '(' .. ARGV[1]

-- Stale members of a "last seen" ranking, removed from it and from its companions.
local function trim(last, companions)
  local old = redis.call('ZRANGEBYSCORE', last, '-inf', stale, 'LIMIT', 0, limit)
  if #old == 0 then return 0 end
  redis.call('ZREM', last, unpack(old))
  for _, key in ipairs(companions) do redis.call('ZREM', key, unpack(old)) end
  return #old
end
return {trim(KEYS[2], {KEYS[1], KEYS[3], KEYS[4]}), trim(KEYS[6], {KEYS[5]})}
