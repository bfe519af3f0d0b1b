#!/usr/bin/env bash
# Instructions heraldd spends on a fixed ingest workload, counted by
# valgrind's callgrind. Unlike events/s, the count is the same for the same
# binary and input however busy the machine is, so two builds can be
# compared on a noisy VM (README: Redis Streams ingest, Benchmark).
#
#   bench/callgrind.sh redis [ENTRIES]   drain a pre-filled stream (default 20000 entries of ~300 B)
#   bench/callgrind.sh ndjson [REQUESTS] REQUESTS NDJSON bodies of 500 events (default 20)
#   bench/callgrind.sh e2e [REQUESTS]    the same bodies for bench/resources-e2e's partner: one
#                                        e-mail per event, rendered and delivered into smtp-sink
#   bench/callgrind.sh single [REQUESTS] REQUESTS single-event JSON requests (default 5000) over
#                                        one keep-alive connection: per-request costs (two
#                                        counts' difference ÷ their requests' difference)
#   bench/callgrind.sh e2e-single [REQUESTS]  the same requests for bench/resources-e2e's partner:
#                                        one e-mail each, delivered one by one (a request
#                                        waits for its answer), as in bench/e2e.sh's first load
#
# HERALD_BUILD picks the build (default build/release). Prints the total
# (startup included: compare like with like) and keeps the callgrind output
# for callgrind_annotate in the printed directory.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-redis}
source bench/lib.sh
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
need "$HERALDD" "$BUILD/bench/herald-redis-bench"
work=$(mktemp -d /tmp/herald-callgrind.XXXXXX)
redis_pid=""
trap '[[ -n $redis_pid ]] && kill -9 "$redis_pid" 2>/dev/null; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; true' EXIT
hport=$(free_port)
extra_toml=""
resources=$PWD/bench/resources-empty
# The event every HTTP mode posts, "%s" its id.
EVENT='{"id":"%s","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00",'\
'"actor":{"id":"u17","name":"Jana Nová"},"partner":{"id":"P-BENCH","name":"Bench s.r.o."},'\
'"document":{"kind":"invoice","number":"FV-2026-0042","total":"1249.90","currency":"EUR",'\
'"due_date":"2026-12-04"},"data":{"order_ref":"OBJ-881"}}'
case $MODE in
  redis)
    N=${2:-20000}
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" --daemonize no \
      --logfile "$work/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
    "$BUILD/bench/herald-redis-bench" fill --port "$rport" --events "$N" --size 300 >/dev/null
    extra_toml=$(printf '[redis]\nport = %s\ncount = 1000\nmax_in_flight = 4\n' "$rport")
    ;;
  ndjson|e2e)
    N=${2:-20}
    if [[ $MODE == e2e ]]; then
      start_sink
      extra_toml=$(relay_toml)
      resources=$PWD/bench/resources-e2e
    fi
    python3 - "$work" "$N" "$EVENT" <<'PY'
import sys
work, n, event = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for r in range(n):
    with open(f"{work}/body{r}.ndjson", "w", encoding="utf-8") as f:
        f.write("\n".join(event % f"cg-{r}-{i}" for i in range(500)))
PY
    ;;
  single) N=${2:-5000} ;;
  e2e-single)
    N=${2:-5000}
    start_sink
    extra_toml=$(relay_toml)
    resources=$PWD/bench/resources-e2e
    ;;
  *) echo "usage: bench/callgrind.sh redis|ndjson|e2e|single|e2e-single [N]" >&2; exit 2 ;;
esac
heraldd_toml "$work" "$resources" "$extra_toml"
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$HERALDD" --config "$work/heraldd.toml" \
  >"$work/heraldd.log" 2>&1 &
vpid=$!
if [[ $MODE == redis ]]; then
  "$BUILD/bench/herald-redis-bench" watch --port "$rport" --group herald --expect "$N" >/dev/null
else
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && break; sleep 0.1; done
  if [[ $MODE == single || $MODE == e2e-single ]]; then
    python3 - "$hport" "$N" "$EVENT" <<'PY' || { kill "$vpid"; exit 1; }
import http.client, sys
port, n, event = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    conn.request("POST", "/v1/events", body=(event % f"cg-s-{i}").encode(), headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    if answer.status != 202:
        sys.exit(f"request {i} answered {answer.status}")
PY
  else
    for r in $(seq 0 $((N - 1))); do
      code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$work/body$r.ndjson" "http://127.0.0.1:$hport/v1/events")
      [[ $code == 202 ]] || { echo "request $r answered $code" >&2; kill "$vpid"; exit 1; }
    done
  fi
  [[ $MODE == e2e ]] && wait_sink $((N * 500)) 600
  [[ $MODE == e2e-single ]] && wait_sink "$N" 600
fi
kill -TERM "$vpid"
wait "$vpid" || true
total=$(callgrind_annotate --threshold=100 "$work"/callgrind.out* 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {t = $1} END {print t}')
[[ -n $total ]] || { echo "no callgrind output; see $work/heraldd.log" >&2; exit 1; }
echo "instructions=$total mode=$MODE n=$N output=$work"
