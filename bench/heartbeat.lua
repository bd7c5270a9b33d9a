-- wrk script: every request is one editor's heartbeat, cycling through the editors' leases.
--
-- Usage: wrk ... -s bench/heartbeat.lua URL -- LEASES_FILE
-- LEASES_FILE has one editor per line: "project_id user lease_id". Each wrk thread starts at
-- its own place in the list so that the threads do not beat the same lease at once. done()
-- prints one JSON line, starting with BENCH_JSON, that bench/http_bench.py reads.

local editors = {}
local next_editor = 1
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("offset", thread_count)
end

function init(args)
  for line in io.lines(args[1]) do
    local project, user, lease = line:match("^(%S+) (%S+) (%S+)$")
    if project then
      editors[#editors + 1] = {
        path = "/v1/projects/" .. project .. "/heartbeat",
        headers = { ["Content-Type"] = "application/json", ["X-Leasekit-User"] = user },
        body = '{"lease_id": "' .. lease .. '"}',
      }
    end
  end
  if #editors == 0 then
    error("no editors in " .. args[1])
  end
  next_editor = ((offset or 1) * 7919) % #editors + 1
end

function request()
  local editor = editors[next_editor]
  next_editor = next_editor % #editors + 1
  return wrk.format("POST", editor.path, editor.headers, editor.body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
