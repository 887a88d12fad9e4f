-- wrk script: GET a random path from a file (one path per line), count every non-2xx response, and
-- print one machine-readable summary line at the end.
-- Usage: [BENCH_AUTHORIZATION="Bearer <token>"] wrk ... -s paths.lua <url> -- <paths file> <seed>
-- When BENCH_AUTHORIZATION is set, every request carries it as the Authorization header (the environment
-- keeps the token off the command line).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local paths = {}
non2xx = 0
sample = ""

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  math.randomseed(tonumber(args[2] or "1") + thread_id)
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  if authorization and authorization ~= "" then
    wrk.headers["Authorization"] = authorization
  end
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if sample == "" then
      sample = status .. " " .. string.sub(string.gsub(body or "", "[\r\n]", " "), 1, 500)
    end
  end
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    if first == "" then
      first = thread:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d,\"mean_us\":%.1f,\"max_us\":%d}\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
  if first ~= "" then
    io.write("BENCH_SAMPLE " .. first .. "\n")
  end
end
