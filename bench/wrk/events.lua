-- wrk script: POST /v1/events with a unique event id per request (herald
-- would answer a repeated id from its idempotency index, without work).
--   EVENTS_PER_REQUEST=1  one JSON event per request (application/json)
--   EVENTS_PER_REQUEST=N  an NDJSON batch of N events (application/x-ndjson)
--   PARTNER=P-1001        the event's partner (default one no resource matches:
--                         ingest only; a matching one makes e-mails)
-- done() prints one machine-readable line: requests= non2xx= errors= seconds=
local per = tonumber(os.getenv("EVENTS_PER_REQUEST") or "1")
local partner = os.getenv("PARTNER") or "P-BENCH"
local counter = 0
local prefix = ""
local event = '{"id":"%s","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00",' ..
  '"actor":{"id":"u17","name":"Jana Nová"},"partner":{"id":"' .. partner .. '","name":"Bench s.r.o."},' ..
  '"document":{"kind":"invoice","number":"FV-2026-0042","total":"1249.90","currency":"EUR","due_date":"2026-12-04"},' ..
  '"data":{"order_ref":"OBJ-881"}}'
local ctype = per == 1 and "application/json" or "application/x-ndjson"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("w%d-%d-", tid, math.random(1, 1000000000))
end

function request()
  local parts = {}
  for i = 1, per do
    counter = counter + 1
    parts[i] = string.format(event, prefix .. counter)
  end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = ctype}, table.concat(parts, "\n"))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests=%d non2xx=%d errors=%d seconds=%.3f\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6))
end
