-- wrk script: POST /v1/events with a unique event id per request (herald
-- would answer a repeated id from its idempotency index, without work).
--   EVENTS_PER_REQUEST=1  one JSON event per request (application/json)
--   EVENTS_PER_REQUEST=N  an NDJSON batch of N events (application/x-ndjson)
--   PARTNER=P-1001        the event's partner (default one no resource matches:
--                         ingest only; a matching one makes e-mails)
-- done() prints one machine-readable line: requests= non2xx= errors= seconds=
--
-- wrk runs request() on its own two threads, on the cores the server under
-- test needs, so it does as little as it can: the request line, headers and
-- the text around each id are built once in init(), and every id has the
-- same width (a 10-digit counter), so Content-Length never changes. Per
-- request only the counters are formatted and the pieces concatenated.
local per = tonumber(os.getenv("EVENTS_PER_REQUEST") or "1")
local partner = os.getenv("PARTNER") or "P-BENCH"
local counter = 0
local event = '{"id":"%s","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00",' ..
  '"actor":{"id":"u17","name":"Jana Nová"},"partner":{"id":"' .. partner .. '","name":"Bench s.r.o."},' ..
  '"document":{"kind":"invoice","number":"FV-2026-0042","total":"1249.90","currency":"EUR","due_date":"2026-12-04"},' ..
  '"data":{"order_ref":"OBJ-881"}}'
local ctype = per == 1 and "application/json" or "application/x-ndjson"
local ID_MARK = "\0ID\0"
local ID_DIGITS = 10
local pieces = {}  -- the request's text between ids: #pieces == per + 1
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  local prefix = string.format("w%d-%d-", tid, math.random(1, 1000000000))
  -- A template request with ID_MARK where each id goes, split there; its
  -- Content-Length counts each id at its final width.
  local id_width = #prefix + ID_DIGITS
  local events = {}
  for i = 1, per do
    events[i] = string.format(event, ID_MARK)
  end
  local body = table.concat(events, "\n")
  local length = #body + per * (id_width - #ID_MARK)
  local template = wrk.format("POST", "/v1/events", {["Content-Type"] = ctype}, body)
  template = template:gsub("Content%-Length: %d+", "Content-Length: " .. length, 1)
  local from = 1
  for i = 1, per do
    local at = template:find(ID_MARK, from, true)
    pieces[i] = template:sub(from, at - 1) .. prefix
    from = at + #ID_MARK
  end
  pieces[per + 1] = template:sub(from)
end

local ID_FORMAT = "%0" .. ID_DIGITS .. "d"
local parts = {}

function request()
  if per == 1 then
    counter = counter + 1
    return pieces[1] .. string.format(ID_FORMAT, counter) .. pieces[2]
  end
  for i = 1, per do
    counter = counter + 1
    parts[2 * i - 1] = pieces[i]
    parts[2 * i] = string.format(ID_FORMAT, counter)
  end
  parts[2 * per + 1] = pieces[per + 1]
  return table.concat(parts)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests=%d non2xx=%d errors=%d seconds=%.3f\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6))
end
