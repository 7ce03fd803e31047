-- wrk script: cycles through a fixed request mix, one request per argument "path|cookie" (the
-- cookie may be empty); the first argument "close" sends Connection: close (a new connection per
-- request). Prints one RESULT line for bench/throughput.py.
local requests_ = {}
local i = 0

function init(args)
  for j = 2, #args do
    local path, cookie = args[j]:match("^([^|]*)|(.*)$")
    local headers = {}
    if cookie ~= "" then headers["Cookie"] = cookie end
    if args[1] == "close" then headers["Connection"] = "close" end
    requests_[#requests_ + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  i = i % #requests_ + 1
  return requests_[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max))
end
