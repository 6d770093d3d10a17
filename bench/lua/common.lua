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
flows = 0
status_seen = ""
-- With one connection per thread, a request and its answer pair up: the latency of each
-- successful request (or flow) is kept, and the time from the first request to the last
-- success, so that a scenario whose single-use inputs run out is rated over the time it
-- had them.
lat = {}
flow_lat = {}
first_us = 0
last_us = 0
sent_us = 0

function mark_sent()
  sent_us = now_us()
  if first_us == 0 then first_us = sent_us end
end

function record_ok()
  local t = now_us()
  ok = ok + 1
  lat[#lat + 1] = math.floor(t - sent_us)
  last_us = t
end

function count_status(status, body)
  if status >= 200 and status < 400 then ok = ok + 1 else count_bad(status, body) end
end

function count_bad(status, body)
  bad = bad + 1
  if bad <= 2 then
    local snippet = string.gsub(string.sub(body or "", 1, 100), '[%c"\\]', " ")
    status_seen = status_seen .. tostring(status) .. " " .. snippet .. "; "
  end
end

local function join(values)
  local out = {}
  for i = 1, #values do out[i] = string.format("%d", values[i]) end
  return table.concat(out, ",")
end

function done(summary, latency, requests)
  local okc, badc, fl, seen = 0, 0, 0, ""
  local lats, flats, active = {}, {}, {}
  for _, t in ipairs(threads) do
    local tok = t:get("ok") or 0
    okc = okc + tok
    badc = badc + (t:get("bad") or 0)
    fl = fl + (t:get("flows") or 0)
    seen = seen .. (t:get("status_seen") or "")
    local l = t:get("lat") or {}
    if #l > 0 then table.insert(lats, join(l)) end
    local f = t:get("flow_lat") or {}
    if #f > 0 then table.insert(flats, join(f)) end
    local first, last = t:get("first_us") or 0, t:get("last_us") or 0
    table.insert(active, string.format("[%d,%d,%d]", tok, t:get("flows") or 0, math.floor(last - first)))
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"status_errors":%d,"ok":%d,"bad":%d,"flows":%d,' ..
    '"bad_statuses":"%s","p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"lat_us":[%s],"flow_us":[%s],"threads":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
    e.status, okc, badc, fl, seen, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, table.concat(lats, ","),
    table.concat(flats, ","), table.concat(active, ",")))
end

function record_flow(us)
  flows = flows + 1
  flow_lat[#flow_lat + 1] = math.floor(us)
  last_us = now_us()
end
