-- One benchmark scenario for wrk. `khaibao bench` writes the data file this script loads
-- (a Lua table `items` of {method, path, authorization, body}, plus `idempotent`,
-- `run_id` and `if_none_match`) and passes its path as the first script argument:
--   wrk -t1 -c64 -d15s --latency -s scenario.lua http://127.0.0.1:PORT -- data.lua
--
-- Each request takes the next item in turn; with `idempotent`, each gets its own
-- Idempotency-Key, as each tap on "Submit" in the app does. Status codes are counted per
-- thread and printed with the latency percentiles as one JSON line that the bench parses.

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  dofile(args[1])
  counter = (thread_id - 1) * 7919
  statuses = {}
end

function request()
  counter = counter + 1
  local item = items[(counter % #items) + 1]
  local headers = {}
  local body = nil
  if item[3] ~= "" then
    headers["Authorization"] = item[3]
  end
  if item[4] ~= "" then
    headers["Content-Type"] = "application/json"
    body = item[4]
  end
  if if_none_match ~= nil and if_none_match ~= "" then
    headers["If-None-Match"] = if_none_match  -- a phone revalidating what it holds
  end
  if idempotent then
    headers["Idempotency-Key"] = run_id .. "-" .. thread_id .. "-" .. counter
  end
  return wrk.format(item[1], item[2], headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses")
    for status, count in pairs(counted) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'KHAIBAO_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.timeout, errors.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, table.concat(parts, ", ")))
end
