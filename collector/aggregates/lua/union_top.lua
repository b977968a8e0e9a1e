-- The union of daily rankings of one shard, summed, without sending it out of Redis: its size
-- and its first ARGV[1] members, most first and ties by member ascending (the order the
-- summary lists), as {size, {member, score, member, score, ...}}. KEYS[1] is a scratch key
-- of the same slot, deleted before the script returns; KEYS[2..] the daily rankings. When
-- only one of them exists (the window's other days saw nothing) it is read as it is.
local n = tonumber(ARGV[1])
local held = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then held[#held + 1] = KEYS[i] end
end
if #held == 0 then return {0, {}} end
local src, size = held[1], 0
if #held > 1 then
  src = KEYS[1]
  size = redis.call('ZUNIONSTORE', src, #held, unpack(held))
else
  size = redis.call('ZCARD', src)
end
local rows = {}
if n > 0 then
  local head = redis.call('ZRANGE', src, n - 1, n - 1, 'REV', 'WITHSCORES')
  local last = head[2] or redis.call('ZRANGE', src, 0, 0, 'WITHSCORES')[2]
  -- everything above the n-th score, then the ties at it by member ascending
  rows = redis.call('ZRANGE', src, '+inf', '(' .. last, 'BYSCORE', 'REV', 'WITHSCORES')
  local tied = redis.call('ZRANGE', src, last, last, 'BYSCORE', 'LIMIT', 0,
                          n - #rows / 2, 'WITHSCORES')
  for _, v in ipairs(tied) do rows[#rows + 1] = v end
end
if src == KEYS[1] then redis.call('DEL', src) end
return {size, rows}
