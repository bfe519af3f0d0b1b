#!/usr/bin/env bash
# Soak: heraldd end to end (HTTP → journal → match → render → SMTP smtp-sink,
# history on) under a constant offered rate for MINUTES, sampling every
# INTERVAL seconds: achieved rate, accept latency p99, RSS and e-mails the
# sink received. Both must stay flat: the run fails when RSS grows by more
# than 25 % from the first sample to the last, when the achieved rate drops
# below 95 % of the offered one, or when an accepted event's e-mail is missing.
#
#   bench/soak.sh [MINUTES] [RATE] [INTERVAL]     (defaults 10 2000 30; or bench/run.sh --soak MINUTES)
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
rounds=$(( MINUTES * 60 / INTERVAL ))
(( rounds >= 1 )) || rounds=1
sent_total=0
for i in $(seq "$rounds"); do
  out=$($LOAD --port "$hport" --rate "$RATE" --seconds "$INTERVAL" --connections 64 --partner P-BENCH)
  sent=$(grep -o 'ok=[0-9]*' <<<"$out" | cut -d= -f2)
  sent_total=$(( sent_total + sent ))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$hpid/status)
  echo "$i $(( i * INTERVAL )) $rss $(sink_count) $out" >>"$samples"
  echo "t=$(( i * INTERVAL ))s rss=$(( rss / 1024 ))MB $out" >&2
done
# Every accepted event's e-mail reaches the sink.
wait_sink "$sent_total" 60

MACHINE_PY=$MACHINE_PY python3 - "$RESULTS" "$samples" "$RATE" "$INTERVAL" <<'PY'
import json, os, platform, sys
results, path, rate, interval = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rows = []
for line in open(path):
    i, t, rss, sink, *kv = line.split()
    d = dict(x.split("=") for x in kv)
    rows.append({"t_s": int(t), "rss_mb": round(int(rss) / 1024, 1), "sink": int(sink),
                 "achieved": float(d["achieved_rate"]), "p99_ms": float(d["p99_ms"])})
print(f"\n## Soak: {rate:,.0f} events/s offered, sampled every {interval} s\n")
print("| t | achieved events/s | accept p99 | RSS | e-mails in the sink |\n|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['t_s']} s | {r['achieved']:,.0f} | {r['p99_ms']:.1f} ms | {r['rss_mb']:,.0f} MB | {r['sink']:,} |")
growth = rows[-1]["rss_mb"] / rows[0]["rss_mb"] - 1
slowest = min(r["achieved"] for r in rows)
verdict = "flat" if growth <= 0.25 and slowest >= 0.95 * rate else "NOT flat"
print(f"\nRSS {rows[0]['rss_mb']:.0f} → {rows[-1]['rss_mb']:.0f} MB ({growth:+.0%}), slowest interval "
      f"{slowest:,.0f} events/s: **{verdict}**")
with open(os.path.join(results, "soak.json"), "w") as f:
    json.dump({"soak": {"offered": rate, "interval_s": interval, "samples": rows, "rss_growth": round(growth, 3),
                        "verdict": verdict}, "machine": eval(os.environ["MACHINE_PY"])}, f, indent=2)
sys.exit(0 if verdict == "flat" else 1)
PY
