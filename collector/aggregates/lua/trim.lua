-- Retention: hosts and chains not seen since the cutoff leave every ranking, a bounded
-- number per call. All keys share {g}; nothing here is ever run on a request path.
-- KEYS[1] hosts  [2] hosts:last  [3] hosts:failing  [4] hosts:breaking  [5] chains
--     [6] chains:last  [7] retired, then per swept chain: chain hash, chain hosts
-- ARGV[1] cutoff (ms): last seen before it is stale  [2] retired before it (ms) is forgotten
--     [3] limit: at most this many members per ranking and this many swept hosts per call
--     [4] retention (s)  [5] rank to resume the first swept chain's hosts at
--     [6 ..] the FP of each swept chain (in KEYS order)
-- Returns {hosts trimmed, chains trimmed, retired forgotten, swept chains finished,
--     rank to resume the next one at, hosts removed from swept chains}. A fixed key of the
--     wrong type is an error before any write; a swept chain's, a chain passed over.
local cutoff, forget, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local F = 7  -- fixed keys, all sorted sets
local function is(key, want)
  local t = redis.call('TYPE', key)['ok']
  return t == 'none' or t == want
end
local fixed = {}
for i = 1, F do fixed[i] = 'zset' end
local wrong = check_types(fixed)
if wrong then return wrong end
local stale = '(' .. ARGV[1]

-- Stale members of a "last seen" ranking, removed from it and from its companions.
local function trim(last, companions)
  local old = redis.call('ZRANGEBYSCORE', last, '-inf', stale, 'LIMIT', 0, limit)
  if #old == 0 then return 0 end
  redis.call('ZREM', last, unpack(old))
  for _, key in ipairs(companions) do redis.call('ZREM', key, unpack(old)) end
  return #old
end
local hosts = trim(KEYS[2], {KEYS[1], KEYS[3], KEYS[4]})
local chains = trim(KEYS[6], {KEYS[5]})

local gone = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit)
if #gone > 0 then redis.call('ZREM', KEYS[7], unpack(gone)) end

-- Sweep: a host that left the rankings leaves each chain's host list too. The caller walks
-- the chains (ZSCAN); each call checks at most `limit` hosts, resuming at a rank.
local budget, rank, finished, removed = limit, tonumber(ARGV[5]), 0, 0
for c = 1, (#KEYS - F) / 2 do
  local chain, members, fp = KEYS[F - 1 + 2 * c], KEYS[F + 2 * c], ARGV[5 + c]
  if not (is(chain, 'hash') and is(members, 'zset')) then
    rank = -1  -- a key of the wrong type: never block the sweep on it, pass
  elseif rank == 0 then
    -- A chain ranked without a last-seen time (written before chains:last existed) gets
    -- one from its hash; one whose hash has expired was not written for R.
    budget = budget - 1
    if redis.call('ZSCORE', KEYS[6], fp) == false and redis.call('ZSCORE', KEYS[5], fp) then
      local last = tonumber(redis.call('HGET', chain, 'last_seen') or '0')
      if last < cutoff then
        redis.call('ZREM', KEYS[5], fp)
        chains = chains + 1
      else
        redis.call('ZADD', KEYS[6], last, fp)
        if redis.call('TTL', KEYS[6]) == -1 then redis.call('EXPIRE', KEYS[6], ARGV[4]) end
      end
    end
  end
  local at_end = rank < 0
  while budget > 0 and not at_end do
    local asked = budget
    local got = redis.call('ZRANGE', members, rank, rank + asked - 1)
    budget, at_end = budget - #got, #got < asked
    for _, host in ipairs(got) do
      local seen = redis.call('ZSCORE', KEYS[2], host)
      if host ~= 'other' and (seen == false or tonumber(seen) < cutoff) then
        redis.call('ZREM', members, host)
        removed = removed + 1
      else
        rank = rank + 1  -- a removal moves the members after it one rank down
      end
    end
    if at_end then break end
  end
  if not at_end then break end
  finished, rank = finished + 1, 0
end
return {hosts, chains, #gone, finished, rank, removed}
