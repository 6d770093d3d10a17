-- Shared by every scenario (run.py prepends it): thread ids, data files, a wall clock,
-- and a JSON summary on stdout for run.py to read.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local bench_ts = ffi.new("bench_timespec")

function now_us()
  ffi.C.clock_gettime(1, bench_ts) -- CLOCK_MONOTONIC
  return tonumber(bench_ts.tv_sec) * 1000000 + tonumber(bench_ts.tv_nsec) / 1000
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Lines of a file that belong to this thread (every nth line, from line id+1).
function my_lines(path, id, n)
  local out = {}
  local i = 0
  for line in io.lines(path) do
    if i % n == id then table.insert(out, line) end
    i = i + 1
  end
  return out
end

ok = 0
bad = 0
flow_us = ""
flows = 0
status_seen = ""

function count_status(status, body)
  if status >= 200 and status < 400 then ok = ok + 1 else
    bad = bad + 1
    if bad <= 2 then
      local snippet = string.gsub(string.sub(body or "", 1, 100), '[%c"\\]', " ")
      status_seen = status_seen .. tostring(status) .. " " .. snippet .. "; "
    end
  end
end

function done(summary, latency, requests)
  local okc, badc, fl, seen = 0, 0, 0, ""
  local fus = {}
  for _, t in ipairs(threads) do
    okc = okc + (t:get("ok") or 0)
    badc = badc + (t:get("bad") or 0)
    fl = fl + (t:get("flows") or 0)
    seen = seen .. (t:get("status_seen") or "")
    local s = t:get("flow_us") or ""
    if #s > 0 then table.insert(fus, s) end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"status_errors":%d,"ok":%d,"bad":%d,"flows":%d,' ..
    '"bad_statuses":"%s","p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"flow_us":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
    e.status, okc, badc, fl, seen, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, table.concat(fus, ",")))
end

function record_flow(us)
  flows = flows + 1
  if #flow_us > 0 then flow_us = flow_us .. "," end
  flow_us = flow_us .. string.format("%d", us)
end
