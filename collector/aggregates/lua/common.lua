-- Helpers shared by every script; writer.py puts this file in front of each one.
-- The writer merges a batch before it comes here (aggregates/merge.py): a script receives
-- one increment per distinct counter and each distinct device once per HyperLogLog, so its
-- work grows with what is distinct in the batch, not with the reports.
-- Every key is read before anything is written (a read of the wrong type is the refusal:
-- nothing is half written), then written in one call per key.
local A = 1  -- the next ARGV to parse
local function nxt() local v = ARGV[A]; A = A + 1; return v end
local function num() local v = tonumber(ARGV[A]); A = A + 1; return v end
local function wrong(key) return redis.error_reply('WRONGTYPE collector key ' .. key) end
local function failed(r) return type(r) == 'table' and r.err ~= nil end
-- int: an integer as the decimal text Redis stores. A Lua number handed to redis.call is
-- formatted with "%.17g" (a costly floating-point printf per argument); '%d' is not.
local FMT = string.format
local function int(v) if type(v) == 'number' then return FMT('%d', v) end return v end

-- applied: the writer's high-water mark in this slot, or an error reply (wrong type).
local function applied_mark(key, writer)
  local got = redis.pcall('HGET', key, writer)
  if failed(got) then return nil, wrong(key) end
  return tonumber(got) or 0
end

-- A hash's updates (merge.py _hash_args), read in place from ARGV: a string of one op per
-- field ('+' add, '<' keep the minimum, '>' keep the maximum, '=' set, '?' read only), the
-- fields, their values; then the number of updates of capped collections' members and per
-- update: map letter and field prefix (2 characters), member, value (the field is prefix ..
-- member, or prefix .. 'other' when the map counted the member as other).
local OP_ADD, OP_MIN, OP_MAX, OP_SET, OP_READ = 43, 60, 62, 61, 63
local function parse_hash(key)
  local h = {key = key, ops = nxt(), at = A}
  h.n = #h.ops
  A = A + 2 * h.n
  local nm = num()
  h.nm, h.mat = nm, A
  A = A + 3 * nm
  h.extra = {}  -- updates added by the script itself: {op, field, value}
  return h
end

-- add_op: one more update (op byte, field, value) on a parsed hash.
local function add_op(h, op, f, v)
  h.extra[#h.extra + 1] = {op, f, v}
end

-- read_hash: HMGET every field the updates touch (which checks the type); h.got[i] is the
-- i-th field's value, h.cur[field] for the others, h.new whether none of them existed (the
-- key may be new). Returns an error reply or nil.
local function read_hash(h)
  h.cur, h.new = {}, false
  local n, nm, nx = h.n, h.nm, #h.extra
  if n + nm + nx == 0 then h.got = {}; return nil end
  local fields = {unpack(ARGV, h.at, h.at + n - 1)}
  for j = 0, nm - 1 do
    local lp, m = ARGV[h.mat + 3 * j], ARGV[h.mat + 3 * j + 1]
    local pre = string.sub(lp, 2, 2)
    fields[#fields + 1] = pre .. m
    fields[#fields + 1] = pre .. 'other'
  end
  for _, x in ipairs(h.extra) do fields[#fields + 1] = x[2] end
  local got = redis.pcall('HMGET', h.key, unpack(fields))
  if failed(got) then return wrong(h.key) end
  local new = true
  for i = 1, #fields do
    if got[i] then new = false; if i > n then h.cur[fields[i]] = got[i] end end
  end
  h.got, h.new = got, new
end

-- apply one update to the pending values `out` (field -> new value) given the stored one.
local function update(out, op, f, v, stored)
  if op == OP_SET then out[f] = v; return end
  if op == OP_READ then return end
  local was = out[f]
  if was == nil then was = tonumber(stored) end
  if op == OP_ADD then out[f] = (was or 0) + tonumber(v)
  elseif op == OP_MIN then v = tonumber(v); if was == nil or v < was then out[f] = v end
  elseif op == OP_MAX then v = tonumber(v); if was == nil or v > was then out[f] = v end end
end

-- write_hash: apply the updates in one HSET; maps[letter] maps a member to where it counts.
local function write_hash(h, maps)
  local n, at, ops, got = h.n, h.at, h.ops, h.got
  local out = {}
  for i = 1, n do update(out, string.byte(ops, i), ARGV[at + i - 1], ARGV[at + n + i - 1], got[i]) end
  for j = 0, h.nm - 1 do
    local lp, m, v = ARGV[h.mat + 3 * j], ARGV[h.mat + 3 * j + 1], ARGV[h.mat + 3 * j + 2]
    local to = maps[string.sub(lp, 1, 1)][m] or m
    local f = string.sub(lp, 2, 2) .. to
    update(out, OP_ADD, f, v, h.cur[f])
  end
  for _, x in ipairs(h.extra) do update(out, x[1], x[2], x[3], h.cur[x[2]]) end
  local args = {}
  for f, v in pairs(out) do args[#args + 1] = f; args[#args + 1] = int(v) end
  if #args > 0 then redis.call('HSET', h.key, unpack(args)) end
end

-- field_value: the value an update of `field` carries (nil: none), e.g. a batch's last seen.
local function field_value(h, field)
  for i = 1, h.n do if ARGV[h.at + i - 1] == field then return ARGV[h.at + h.n + i - 1] end end
end

-- stored: the value read for the i-th update's field, by field name (updates only).
local function stored(h, field)
  for i = 1, h.n do if ARGV[h.at + i - 1] == field then return h.got[i] end end
  return h.cur[field]
end

-- A capped sorted set's increments (merge.py _zset_args), read in place: count, members in
-- first-seen order, their increments.
local function parse_counts()
  local n = num()
  local z = {n = n, at = A}
  A = A + 2 * n
  return z
end

-- read_zset: ZMSCORE the members (which checks the type): z.cur[member], z.new (whether
-- none exists: the key may be new). Error reply or nil.
local function read_zset(z)
  z.cur, z.new = {}, false
  if z.n == 0 then return nil end
  local got = redis.pcall('ZMSCORE', z.key, unpack(ARGV, z.at, z.at + z.n - 1))
  if failed(got) then return wrong(z.key) end
  local new = true
  for i = 1, z.n do
    if got[i] then z.cur[ARGV[z.at + i - 1]] = tonumber(got[i]); new = false end
  end
  z.new = new
end

-- write_zset: add the counts in one ZADD, at most `limit` members (nil: no cap); a new
-- member past the limit counts as 'other'. Returns member -> where it was counted.
local function write_zset(z, limit)
  local map, scores, card, other = {}, {}, nil, nil
  for i = 1, z.n do
    local m, c = ARGV[z.at + i - 1], tonumber(ARGV[z.at + z.n + i - 1])
    local target = m
    if z.cur[m] == nil and limit then
      if card == nil then card = redis.call('ZCARD', z.key) end
      if card < limit then card = card + 1 else target = 'other' end
    end
    map[m] = target
    if target == 'other' and other == nil then
      other = tonumber(redis.call('ZSCORE', z.key, 'other')) or 0
      scores.other = other
    end
    scores[target] = (scores[target] or z.cur[target] or 0) + c
  end
  local args = {}
  for m, sc in pairs(scores) do args[#args + 1] = int(sc); args[#args + 1] = m end
  if #args > 0 then redis.call('ZADD', z.key, unpack(args)) end
  return map
end

-- zset_counts: iterate a parsed zset's (member, count).
local function zset_counts(z)
  local i = 0
  return function()
    i = i + 1
    if i <= z.n then return ARGV[z.at + i - 1], tonumber(ARGV[z.at + z.n + i - 1]) end
  end
end

-- read_type: a key that must be `want` or missing; returns (missing, error reply).
local function read_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then return false, wrong(key) end
  return t == 'none', nil
end

-- pfadd: devices ARGV[pool + off .. pool + off + n - 1] into an HLL.
local function pfadd(key, pool, off, n)
  if n > 0 then redis.call('PFADD', key, unpack(ARGV, pool + off, pool + off + n - 1)) end
end

-- due: a record's "R after last write" keys get their TTL again when this write's last
-- report is in a later period (ms) than the record's last one (or it had none).
local function due(old_last, now, period)
  old_last = tonumber(old_last)
  return old_last == nil or math.floor(old_last / period) < math.floor(now / period)
end

-- check_types: the error to return when a key is of another type than want[i] (keys without
-- a want are not checked), so a script refuses before any write; nil when all fit.
local function check_types(want)
  for i = 1, #KEYS do
    local w = want[i]
    if w ~= nil then
      local t = redis.call('TYPE', KEYS[i])['ok']
      if t ~= 'none' and t ~= w then
        return redis.error_reply('WRONGTYPE collector key ' .. KEYS[i])
      end
    end
  end
end
