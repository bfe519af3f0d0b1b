#!/usr/bin/env bash
# Soak: heraldd end to end (HTTP → journal → match → render → SMTP smtp-sink,
# history on) under a constant offered rate for MINUTES, sampling every
# INTERVAL seconds: achieved rate, accept latency p99, RSS and e-mails the
# sink received. Both must stay flat: the run fails when the median RSS of
# the last third of the samples exceeds the first third's by more than 25 %
# (bench/soak_verdict.py says why not first sample against last), when the
# achieved rate drops below 95 % of the offered one, or when an accepted
# event's e-mail is missing. It also prints RSS growth in bytes per event.
#
#   bench/soak.sh [MINUTES] [RATE] [INTERVAL]     (defaults 10 2000 30; or bench/run.sh --soak MINUTES)
#   SOAK_SECONDS=S overrides MINUTES (the test suite's few-second run: test_bench_smoke.py)
#
# Writes $HERALD_RESULTS/soak.json (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
RATE=${2:-2000}
INTERVAL=${3:-30}
source bench/lib.sh
LOAD=$BUILD/bench/herald-http-load
need "$HERALDD" "$LOAD"
bench_init soak

start_sink

start_heraldd "$work" "$PWD/bench/resources-e2e" "$(relay_toml)"

samples="$work/samples"
: >"$samples"
rounds=$(( ${SOAK_SECONDS:-$(( MINUTES * 60 ))} / INTERVAL ))
(( rounds >= 1 )) || rounds=1
sent_total=0
for i in $(seq "$rounds"); do
  out=$($LOAD --port "$hport" --rate "$RATE" --seconds "$INTERVAL" --connections 64 --partner P-BENCH)
  sent=$(grep -o 'ok=[0-9]*' <<<"$out" | cut -d= -f2)
  sent_total=$(( sent_total + sent ))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$hpid/status)
  window=$(metric herald_journal_finished_memory_bytes)
  echo "$i $(( i * INTERVAL )) $rss $(sink_count) window_bytes=$window $out" >>"$samples"
  echo "t=$(( i * INTERVAL ))s rss=$(( rss / 1024 ))MB window=$(( window / 1024 / 1024 ))MB $out" >&2
done
# Every accepted event's e-mail reaches the sink.
wait_sink "$sent_total" 60

MACHINE_PY=$MACHINE_PY python3 - "$RESULTS" "$samples" "$RATE" "$INTERVAL" <<'PY'
import datetime, json, os, platform, sys
sys.path.insert(0, "bench")
import soak_verdict
results, path, rate, interval = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rows = []
for line in open(path):
    i, t, rss, sink, *kv = line.split()
    d = dict(x.split("=") for x in kv)
    rows.append({"t_s": int(t), "rss_mb": round(int(rss) / 1024, 1), "sink": int(sink),
                 "achieved": float(d["achieved_rate"]), "p99_ms": float(d["p99_ms"]),
                 "window_mb": round(int(d["window_bytes"]) / (1024 * 1024), 2)})
print(f"\n## Soak: {rate:,.0f} events/s offered, sampled every {interval} s\n")
print("| t | achieved events/s | accept p99 | RSS | of which the idempotency window's filters and indexes | "
      "e-mails in the sink |\n|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['t_s']} s | {r['achieved']:,.0f} | {r['p99_ms']:.1f} ms | {r['rss_mb']:,.0f} MB | "
          f"{r['window_mb']:,.1f} MB | {r['sink']:,} |")
v = soak_verdict.verdict(rows, rate)
print(f"\nRSS {rows[0]['rss_mb']:.0f} → {rows[-1]['rss_mb']:.0f} MB; median of the first third "
      f"{v['rss_first_third_mb']:.0f} MB, of the last {v['rss_last_third_mb']:.0f} MB ({v['rss_growth']:+.0%}); "
      f"{v['rss_bytes_per_event']:+.1f} bytes per event accepted (least squares; the window's filters and "
      f"indexes {v['window_bytes_per_event']:+.1f}, the rest {v['rest_bytes_per_event']:+.1f}); slowest interval "
      f"{v['slowest']:,.0f} events/s: **{v['verdict']}**")
with open(os.path.join(results, "soak.json"), "w") as f:
    json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "soak": {"offered": rate, "interval_s": interval, "samples": rows, **v},
               "machine": eval(os.environ["MACHINE_PY"])}, f, indent=2)
sys.exit(0 if v["verdict"] == "flat" else 1)
PY
