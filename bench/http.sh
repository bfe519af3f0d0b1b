#!/usr/bin/env bash
# HTTP ingest benchmarks, each beside its ceiling, in one run:
#   http    one event per keep-alive request (wrk + bench/wrk/events.lua):
#           heraldd vs herald-http-ceiling (a trivial Beast server answering
#           202 with no work), same threads, same load
#   ndjson  NDJSON batches of $BATCH events per request (herald-http-bulk, a
#           closed-loop generator that rewrites only the ids per batch):
#           heraldd vs the same ceiling server, same load. wrk's Lua script
#           spent about a core building 500-event bodies, which capped even
#           the ceiling at ~360k events/s on 2 cores (README, Performance).
# heraldd journals every event (group commit, fdatasync) and records history;
# no resource matches, so this is ingest, not delivery.
#
#   bench/http.sh [SECONDS] [CONNECTIONS] [BATCH] [NDJSON_CONNECTIONS]
#   (defaults 10 256 500 16; needs a release build)
#
# 256 connections for one event per request: heraldd answers 202 only after
# the group commit that holds the event, and commits start at most every
# [storage] group_commit_interval_us (1 ms while the machine shows no steal), so a closed-loop client needs
# about rate × commit latency requests in flight to load it; at 64 the run
# measures the commit interval, not the server (README, Performance). The
# ceiling gets the same connections. NDJSON batches need far fewer: 16
# connections of 500 events keep 8 000 in flight.
#
# Checks: the generators saw no non-2xx answers or broken connections, and
# heraldd's own counter of accepted events is at least what they counted;
# otherwise the run fails.
# Prints a table and writes $HERALD_RESULTS/http.json (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-10}
CONNECTIONS=${2:-256}
BATCH=${3:-500}
NDJSON_CONNECTIONS=${4:-16}
source bench/lib.sh
CEILING=$BUILD/bench/herald-http-ceiling
BULK=$BUILD/bench/herald-http-bulk
need "$CEILING" "$BULK" "$HERALDD"
bench_init http

# run_wrk URL EVENTS_PER_REQUEST CONNECTIONS → "requests non2xx errors seconds"
run_wrk() {
  EVENTS_PER_REQUEST=$2 wrk -t2 -c"$3" -d"${SECONDS_}s" --timeout 10s -s bench/wrk/events.lua "$1" \
    | grep '^requests=' | sed -E 's/[a-z0-9]+=//g'
}
# run_bulk PORT → "requests non2xx errors seconds" (its exit status is not
# trusted alone: check() says what went wrong)
run_bulk() {
  local out
  out=$("$BULK" --port "$1" --seconds "$SECONDS_" --batch "$BATCH" --connections "$NDJSON_CONNECTIONS" || true)
  grep -q '^requests=' <<<"$out" || { echo "herald-http-bulk printed no result: $out" >&2; exit 1; }
  grep '^requests=' <<<"$out" | sed -E 's/ events=[0-9]+//; s/[a-z0-9]+=//g'
}
check() {  # name requests non2xx errors [errors_allowed]
  (( $3 == 0 )) || { echo "$1: $3 answers were not 2xx" >&2; exit 1; }
  (( $2 > 0 )) || { echo "$1: no request completed" >&2; exit 1; }
  [[ ${5:-} == errors_allowed ]] || (( $4 == 0 )) || { echo "$1: $4 connections failed" >&2; exit 1; }
}
$CEILING --threads 2 >"$work/ceiling.out" &
pids+=($!)
cport=$(wait_port_line "$work/ceiling.out")
# Each run between two cpu_snapshots of its server: CPU per event beside events/s.
cpu_snapshot "${pids[0]}" "$work/cpu.c0"
read -r c_req c_bad c_err c_sec <<<"$(run_wrk "http://127.0.0.1:$cport/v1/events" 1 "$CONNECTIONS")"
cpu_snapshot "${pids[0]}" "$work/cpu.c1"
check ceiling "$c_req" "$c_bad" "$c_err" errors_allowed
bulk=$(run_bulk "$cport")  # an assignment: a failing run_bulk stops the script
cpu_snapshot "${pids[0]}" "$work/cpu.nc1"
read -r nc_req nc_bad nc_err nc_sec <<<"$bulk"
check "ndjson ceiling" "$nc_req" "$nc_bad" "$nc_err"
kill "${pids[0]}"

start_heraldd "$work/single" "$PWD/bench/resources-empty"
cpu_snapshot "$hpid" "$work/cpu.h0"
read -r h_req h_bad h_err h_sec <<<"$(run_wrk "http://127.0.0.1:$hport/v1/events" 1 "$CONNECTIONS")"
cpu_snapshot "$hpid" "$work/cpu.h1"
check heraldd "$h_req" "$h_bad" "$h_err" errors_allowed
accepted=$(metric 'herald_events_received_total{source="http"}')
(( ${accepted%.*} >= h_req )) || { echo "heraldd accepted ${accepted} events, wrk counted $h_req" >&2; exit 1; }
kill "$hpid"

start_heraldd "$work/ndjson" "$PWD/bench/resources-empty"
nport=$hport
cpu_snapshot "$hpid" "$work/cpu.n0"
bulk=$(run_bulk "$nport")
cpu_snapshot "$hpid" "$work/cpu.n1"
read -r n_req n_bad n_err n_sec <<<"$bulk"
check ndjson "$n_req" "$n_bad" "$n_err"
n_accepted=$(metric 'herald_events_received_total{source="http"}')
(( ${n_accepted%.*} >= n_req * BATCH )) || { echo "heraldd accepted ${n_accepted} events, herald-http-bulk counted $((n_req * BATCH))" >&2; exit 1; }
cpu_c=$(cpu_usage "$work/cpu.c0" "$work/cpu.c1" "$c_req")
cpu_nc=$(cpu_usage "$work/cpu.c1" "$work/cpu.nc1" $((nc_req * BATCH)))
cpu_h=$(cpu_usage "$work/cpu.h0" "$work/cpu.h1" "$h_req")
cpu_n=$(cpu_usage "$work/cpu.n0" "$work/cpu.n1" $((n_req * BATCH)))

MACHINE_PY=$MACHINE_PY python3 - "$RESULTS" "$c_req" "$c_sec" "$h_req" "$h_sec" "$n_req" "$n_sec" "$BATCH" "$CONNECTIONS" "$NDJSON_CONNECTIONS" "$nc_req" "$nc_sec" \
  "$cpu_c" "$cpu_h" "$cpu_nc" "$cpu_n" <<'PY'
import json, os, platform, sys
sys.path.insert(0, "bench")
from cpu_usage import cpu_line, cpu_json
results = sys.argv[1]
c_req, c_sec, h_req, h_sec, n_req, n_sec = (float(x) for x in sys.argv[2:8])
batch, conns, n_conns = int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
nc_req, nc_sec = float(sys.argv[11]), float(sys.argv[12])
cpu_c, cpu_h, cpu_nc, cpu_n = (json.loads(x) for x in sys.argv[13:17])
ceiling, herald, ndjson = c_req / c_sec, h_req / h_sec, n_req * batch / n_sec
n_ceiling = nc_req * batch / nc_sec
print(f"\n## HTTP ingest (wrk -t2 -c{conns}, keep-alive; heraldd journals with fdatasync)\n")
print("| server | events/s | ratio |")
print("|---|---:|---:|")
print(f"| herald-http-ceiling (Beast, answers 202, no work) | {ceiling:,.0f} | 1.00 |")
print(f"| **heraldd**, one event per request | **{herald:,.0f}** | **{herald / ceiling:.2f}** |")
print(cpu_line("event", cpu_h, cpu_c))
print(f"\n## NDJSON bulk ingest ({batch} events per request, herald-http-bulk, {n_conns} connections)\n")
print("| server | events/s | ratio |")
print("|---|---:|---:|")
print(f"| herald-http-ceiling (reads each body, answers 202, no work) | {n_ceiling:,.0f} | 1.00 |")
print(f"| **heraldd** ({n_req / n_sec:,.0f} requests/s) | **{ndjson:,.0f}** | **{ndjson / n_ceiling:.2f}** |")
print(cpu_line("event", cpu_n, cpu_nc))
machine = eval(os.environ["MACHINE_PY"])
with open(os.path.join(results, "http.json"), "w") as f:
    json.dump({"http": {"herald": round(herald), "ceiling": round(ceiling), "ratio": round(herald / ceiling, 3),
                        "unit": "events/s", "connections": conns, "cpu": cpu_json(cpu_h, cpu_c)},
               "ndjson": {"herald": round(ndjson), "ceiling": round(n_ceiling), "ratio": round(ndjson / n_ceiling, 3),
                          "unit": "events/s",
                          "batch": batch, "requests_per_s": round(n_req / n_sec), "connections": n_conns,
                          "cpu": cpu_json(cpu_n, cpu_nc)},
               "machine": machine}, f, indent=2)
PY
