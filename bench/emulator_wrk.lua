-- wrk as the load generator of bench/emulator_load.py (--generator wrk): C, so it leaves the
-- emulator the CPU a Python generator would take on the same two cores.
--
--   wrk -t1 -c <players> -d <seconds>s -s bench/emulator_wrk.lua <endpoint> -- <sessions file> <rate> <loop>
--
-- The sessions file holds one "sid ts" line per player (emulator_load.py opens the sessions
-- first). Each request is the next event of the next session in turn, ts 1 s apart per session;
-- <loop> is emulator_load.py's viewing loop (event types, comma-separated). A rate > 0 paces the
-- thread: every request waits for its slot, 1/rate s after the previous one (0: each connection
-- sends again at once).
-- done() prints one JSON line with the figures.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } mc_timespec;
int clock_gettime(int clock, mc_timespec *out);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("mc_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local HEADERS = { ["Content-Type"] = "application/json" }
local sessions, turn, period, next_at, LOOP = {}, 0, 0, nil, {}

function init(args)
  for line in io.lines(args[1]) do
    local sid, ts = line:match("^(%S+) (%d+)$")
    sessions[#sessions + 1] = { path = "/api/v1/sessions/" .. sid .. "/events", ts = tonumber(ts), step = 0 }
  end
  local rate = tonumber(args[2]) or 0
  for event_type in args[3]:gmatch("[^,]+") do LOOP[#LOOP + 1] = event_type end
  if rate > 0 then period = 1000 / rate end
end

function delay()
  if period == 0 then return 0 end
  local now = now_ms()
  next_at = math.max(next_at or now, now - 1000) + period  -- a late slot is used at once, but no more than 1 s of them
  return math.max(0, next_at - now)
end

function request()
  turn = turn % #sessions + 1
  local s = sessions[turn]
  s.step = s.step + 1
  s.ts = s.ts + 1000
  local body = string.format('{"playerTime":{"playhead":%d,"ts":%d},"eventType":"%s"}', s.step, s.ts,
                             LOOP[(s.step - 1) % #LOOP + 1])
  return wrk.format("POST", s.path, HEADERS, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
