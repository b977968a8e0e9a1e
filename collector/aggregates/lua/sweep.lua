-- Sweep one chain's host list ({g:T}:chain:FP:hosts): remove hosts that left the rankings.
-- The caller found them stale in their own shards (a host's hosts:last lives in the host's
-- shard, another slot); a host whose score here changed since it was read was written again
-- meanwhile and stays.
-- KEYS[1] the chain's host list. ARGV: host, score read, host, score read, ...
-- Returns how many hosts were removed; errors before any write on a wrong key type.
local _, err = read_type(KEYS[1], 'zset')
if err then return err end
local gone = {}
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then gone[#gone + 1] = ARGV[i] end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return #gone
