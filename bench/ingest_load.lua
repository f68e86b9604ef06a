-- wrk load for the device ingest benchmark (bench/ingest.py): OsmAnd query reports over keep-alive.
-- args: devices threads t0 delay_ms. Each thread owns devices/threads distinct device ids and
-- cycles through them; every connection waits delay_ms after each answer, so with as many
-- connections as devices each device reports about once a second. Fix times advance 1 s per
-- report of a device, starting at t0 (epoch s), so no report is a duplicate or out of order.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  devices = tonumber(args[1])
  nthreads = tonumber(args[2])
  t0 = tonumber(args[3])
  delay_ms = tonumber(args[4])
  per = math.floor(devices / nthreads)
  first = tid * per
  k = 0
  d = 0
  seq = {}
  math.randomseed(1000 + tid)
end

-- Real devices report on their own clocks, not in step. wrk starts every connection at once and
-- waits a fixed delay after each answer, and answers of one micro-batch come back together, so
-- fixed delays would keep all 10,000 devices in lock-step: each wait is drawn from
-- [delay_ms / 2, 3 * delay_ms / 2] (mean delay_ms), the first from [0, 1000] ms.
function delay()
  d = d + 1
  if delay_ms > 0 and d <= per then
    return math.random(0, 1000)
  end
  if delay_ms == 0 then
    return 0
  end
  return math.random(math.floor(delay_ms / 2), math.floor(delay_ms * 3 / 2))
end

function request()
  local i = first + (k % per)
  k = k + 1
  local s = (seq[i] or 0) + 1
  seq[i] = s
  local lat = 60.1 + (i % 100) * 0.001 + s * 0.00005
  local lon = 24.9 + math.floor(i / 100) * 0.001
  return wrk.format("GET", string.format(
    "/?id=dev%05d&lat=%.6f&lon=%.6f&timestamp=%d&speed=20.0&bearing=90.0&altitude=12&accuracy=8&batt=87",
    i, lat, lon, t0 + s))
end
