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

-- the first report of each connection comes at a random moment of the first second: real
-- devices are not synchronised (wrk starts every connection at once)
function delay()
  d = d + 1
  if d <= per then
    return math.random(0, 1000)
  end
  return delay_ms
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
