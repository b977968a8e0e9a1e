-- limit: one report against one GCRA bucket (a token bucket kept as a single number).
-- KEYS[1]: the bucket, the theoretical arrival time (ms) of the next report.
-- ARGV[1]: ms between reports at the sustained rate; ARGV[2]: burst (reports).
-- The clock is Redis's own (TIME), so every collector machine shares one timeline.
-- Returns 0 when the report is allowed (and counted), else the ms to wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - burst * interval - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now))
return 0
