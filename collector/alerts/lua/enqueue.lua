-- Fire one alert, at most once per (rule, host, chain) per cooldown. All keys share {a}.
-- KEYS[1] cooldown:DIGEST  [2] log  [3] outbox
-- ARGV[1] cooldown (s)  [2] alert id  [3] alert JSON  [4] log MAXLEN (approximate),
--     then one destination id per outbox entry
-- Returns 1 when the alert fired (the cooldown key was free), else 0. A key of the wrong
-- type is an error before any write.
local wrong = check_types({'string', 'stream', 'stream'})
if wrong then return wrong end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'alert', ARGV[3])
for i = 5, #ARGV do
  redis.call('XADD', KEYS[3], '*', 'id', ARGV[2], 'dest', ARGV[i], 'alert', ARGV[3])
end
return 1
