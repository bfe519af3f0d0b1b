#!/usr/bin/env bash
# Redis Streams ingest benchmark: herald beside two ceilings, in one run.
#
#   bench/redis_ingest.sh [EVENTS]        (default 1000000; needs a release build)
#
# 1. redis-benchmark XADD rate (pipelined, 64 deep) of the same ~300-byte event
# 2. a raw XREADGROUP+XACK loop (herald-redis-bench raw) draining a pre-filled
#    stream with herald's pipelined connection and none of herald's work
# 3. heraldd draining the same pre-filled stream: validate, journal with
#    group commit (fdatasync), XACK; no resources match, so it measures
#    ingest, not delivery
# Prints a table and writes $HERALD_RESULTS/redis.json (default bench/results),
# with heraldd's CPU per entry over its drain (its start included) and every
# core's (bench/cpu_usage.py), the rest of which is redis-server's, the
# watcher's and the kernel's.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-1000000}
source bench/lib.sh
BENCH=$BUILD/bench/herald-redis-bench
need "$BENCH" "$HERALDD"

work=$(mktemp -d /tmp/herald-redis-bench.XXXXXX)
port=$(free_port)
redis_pid=""; herald_pid=""
cleanup() {
  # Reaped here, so bash does not report the killed jobs ("Killed") in the harness's output.
  [[ -n $herald_pid ]] && { kill -9 "$herald_pid"; wait "$herald_pid"; } 2>/dev/null || true
  [[ -n $redis_pid ]] && { kill -9 "$redis_pid"; wait "$redis_pid"; } 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync everysec \
  --save "" --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

last() { tail -n1 | cut -d= -f2; }

event=$(printf '{"id":"bench-x","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03+01:00","partner":{"id":"P-BENCH","name":"Bench s.r.o."},"document":{"kind":"invoice","number":"FV-1","total":"1249.90","currency":"EUR"},"data":{"note":"%s"}}' "$(head -c 60 /dev/zero | tr '\0' x)")
xadd=$(redis-benchmark -p "$port" -n "$EVENTS" -P 64 -q XADD bench:xadd '*' event "$event" | tr ' ' '\n' | grep -m1 -E '^[0-9.]+$')
redis-cli -p "$port" del bench:xadd >/dev/null

echo "filling herald:events with $EVENTS events..." >&2
$BENCH fill --port "$port" --events "$EVENTS" --size 300 >&2
raw=$($BENCH raw --port "$port" --group raw --count 1000 | last)

cat >"$work/heraldd.toml" <<TOML
[daemon]
threads = ${HERALD_THREADS:-2}
log_level = "warn"
[http]
listen = "127.0.0.1:0"
[storage]
dir = "$work/var"
${HERALD_STORAGE_TOML:-}
[resources]
dir = "$PWD/bench/resources-empty"
[redis]
port = $port
count = 1000
max_in_flight = 4
TOML
$HERALDD --config "$work/heraldd.toml" >"$work/heraldd.log" 2>&1 &
herald_pid=$!
cpu_snapshot "$herald_pid" "$work/cpu.0"
herald=$($BENCH watch --port "$port" --group herald --expect "$EVENTS" | last)
cpu_snapshot "$herald_pid" "$work/cpu.1"
cpu=$(cpu_usage "$work/cpu.0" "$work/cpu.1" "$EVENTS")
kill "$herald_pid"; wait "$herald_pid" || true; herald_pid=""

ratio_raw=$(python3 -c "print(f'{$herald/$raw:.2f}')")
ratio_xadd=$(python3 -c "print(f'{$herald/$xadd:.2f}')")
printf '\n| Redis Streams ingest (%s events, ~300 B) | entries/s | herald ÷ it |\n|---|---:|---:|\n' "$EVENTS"
printf '| redis-benchmark XADD (-P 64) | %.0f | %s |\n' "$xadd" "$ratio_xadd"
printf '| raw XREADGROUP+XACK loop | %.0f | %s |\n' "$raw" "$ratio_raw"
printf '| **heraldd** (validate + journal fdatasync + XACK) | %.0f | 1.00 |\n' "$herald"
python3 - "$herald" "$raw" "$xadd" "$EVENTS" "$cpu" "$RESULTS/redis.json" <<'PY'
import json, sys, platform, os
sys.path.insert(0, "bench")
from cpu_usage import cpu_line, cpu_json, machine_note
h, raw, xadd, n = map(float, sys.argv[1:5])
usage = json.loads(sys.argv[5])
cpu = cpu_json(usage)
print(cpu_line("entry", usage)
      + machine_note(cpu["machine_us"], cpu["others_us"], "redis-server, the watcher, the kernel's threads"))
with open(sys.argv[6], "w") as f:
    json.dump({"redis": {"herald": h, "ceiling": raw, "ratio": round(h / raw, 3), "unit": "events/s",
                         "xadd_ceiling": xadd, "events": int(n), "cpu": cpu},
               "machine": f"{platform.machine()} {os.cpu_count()} cpus {platform.platform()}"}, f, indent=2)
PY
