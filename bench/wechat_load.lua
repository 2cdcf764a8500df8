-- wrk script: replays a list of distinct, pre-signed WeChat pushes, each at
-- most once, for wrk's duration. REQUESTS names a file of "path<TAB>body"
-- lines; make it longer than the server can take in that time (the run
-- reports "exhausted" otherwise, and the tail would be retries).
local requests = {}
-- globals, so done() can read them from each thread with thread:get()
counter, responses, ok, bad, nreq = 0, 0, 0, 0, 0
local threads = {}
local path_file = os.getenv("REQUESTS")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  local i = 0
  for line in io.lines(path_file) do
    if i % n == id then
      local tab = line:find("\t", 1, true)
      table.insert(requests, wrk.format("POST", line:sub(1, tab - 1),
        {["Content-Type"] = "text/xml"}, line:sub(tab + 1)))
    end
    i = i + 1
  end
  nreq = #requests
end

function request()
  counter = counter + 1
  if counter > #requests then
    -- Exhausted: keep the connection busy with nothing new; stop soon.
    return requests[#requests]
  end
  return requests[counter]
end

local expect = os.getenv("EXPECT")  -- a substring every good reply has

function response(status, headers, body)
  responses = responses + 1
  if status == 200 and (expect == nil or body:find(expect, 1, true)) then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests_)
  local total_ok, total_bad, exhausted = 0, 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_bad = total_bad + (t:get("bad") or 0)
    if (t:get("counter") or 0) > (t:get("nreq") or 0) then exhausted = 1 end
  end
  io.write(string.format(
    '{"requests": %d, "ok": %d, "bad": %d, "exhausted": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "errors": %d}\n',
    summary.requests, total_ok, total_bad, exhausted, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
