-- POSTs the report in the file named by $REPORT, its "hostname" replaced by a new one every
-- $NEW_EVERY requests (default 1): <$PREFIX>-t<thread>-<n>.example.com. Every host is new, so
-- its first report is a new (host, chain) pair: the collector decides a new-chain (or
-- new-public-trust-chain) alert for it. bench/alerts.py loads both collectors with it.
local f = assert(io.open(os.getenv("REPORT"), "rb"))
local body = f:read("*a")
f:close()
local s, e = body:find('"hostname"%s*:%s*"[^"]*"')
assert(s, "the report has no \"hostname\" field")
local head = body:sub(1, s - 1) .. '"hostname":"' .. (os.getenv("PREFIX") or "h") .. "-t"
local tail = '.example.com"' .. body:sub(e + 1)
local every = tonumber(os.getenv("NEW_EVERY") or "1")
local n = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  local host = math.floor(n / every)
  n = n + 1
  return wrk.format(nil, nil, nil, head .. (tid or 0) .. "-" .. host .. tail)
end
