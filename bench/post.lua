-- wrk script: POST one chat request (body from BENCH_BODY_FILE) with a bearer key (BENCH_KEY),
-- and print the run's figures as one JSON line so that run.py need not scrape wrk's text.
-- With BENCH_RATE (requests per second, whole run) it paces instead of loading flat out: see below.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
wrk.headers["Accept"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- A body with the marker #SEQ# gets a number of its own in each request (fixed width, so the length
-- stays the same): the gateway shares one upstream call among identical deterministic requests in
-- flight (rerank, embeddings), and a fixed body would measure that sharing, not the pass-through.
-- BENCH_SEQ_FROM starts the numbers past an earlier run's (instructions.py's warm-up, then its count).
local head, tail = wrk.body:match("^(.-)#SEQ#(.*)$")
if head then
  local threads = 0
  function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
  end
  local sent = tonumber(os.getenv("BENCH_SEQ_FROM") or "") or 0
  function request()
    sent = sent + 1
    return wrk.format(nil, nil, nil, head .. string.format("%02d%08d", thread_id or 0, sent) .. tail)
  end
end

-- Open loop at a fixed rate: request n is due at start + n / rate, whenever the previous answers came.
-- wrk asks delay() (in ms) before every request on every connection, so each call hands out the next
-- slot of one schedule; a connection that is free early waits for its slot, and a late slot is sent at
-- once (the schedule never slides, so a target that cannot keep up shows as a lower achieved rate).
-- Run with one wrk thread: one thread, one schedule. wrk's timers have 1 ms resolution, so single
-- requests are up to half a millisecond off their slot; the rate over the run is exact.
local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]])
  local CLOCK_MONOTONIC = 1
  local ts = ffi.new("bench_timespec")
  local interval_ms = 1000 / rate
  local next_at = nil

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1e3 + tonumber(ts.tv_nsec) / 1e6
  end

  function delay()
    local now = now_ms()
    next_at = next_at or now
    local wait = next_at - now
    next_at = next_at + interval_ms
    if wait <= 0 then
      return 0
    end
    return math.floor(wait + 0.5)
  end
end

-- With BENCH_STOP_AFTER, each thread sends that many requests and stops once all are answered: an
-- exact count, none left in flight, as instructions.py needs. wrk asks delay() before every request,
-- so a connection asking for one more is parked (for an hour) instead. wrk itself still waits out -d
-- unless interrupted: the line BENCH_STOPPED tells the caller to send it SIGINT.
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")
if stop_after and stop_after > 0 then
  local paced, issued, answered = delay, 0, 0
  function delay()
    issued = issued + 1
    if issued > stop_after then
      return 3600000
    end
    return paced and paced() or 0
  end
  function response(status, headers, body)
    answered = answered + 1
    if answered >= stop_after then
      wrk.thread:stop()
      io.write("BENCH_STOPPED\n")
      io.flush()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
