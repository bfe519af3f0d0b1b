#!/usr/bin/env bash
# End to end: HTTP → journal (fdatasync) → match → render → SMTP into Postfix's
# smtp-sink, with history on, one e-mail per event (bench/resources-e2e).
#   1. throughput: wrk posts events for SECONDS (closed loop, E2E_CONNECTIONS
#      connections, default 256 as in bench/http.sh), one event per request;
#      e-mails/s = events accepted ÷ time until the sink has received them
#      all, beside smtp-source's rate into the same sink (the delivery
#      ceiling; heraldd relays over as many connections). A closed loop
#      offers at most connections ÷ accept latency: with 64 connections and
#      a durable ack of 3-10 ms that was 6-20k events/s, and heraldd's
#      delivery queue stayed nearly empty (median depth 16-33 of 10 000)
#   2. the same with NDJSON batches of BATCH events per request over 64
#      connections (upstream systems that post in bulk; 6 400 events in
#      flight keep delivery busy): delivery, not per-request ingest, bounds it
#   3. latency: herald-http-load offers RATE events/s at a constant rate (open
#      loop, no coordinated omission) and reports accept latency p50/p99,
#      beside the same load on herald-http-ceiling --durable (answers 202 after
#      write + fdatasync by group commit, nothing else: the machine's own
#      durable-ack latency, with heraldd's commit interval)
#
#   bench/e2e.sh [SECONDS] [RATE] [BATCH]   (defaults 10 5000 100; needs a release build)
#
# Beside each rate, its CPU per e-mail: heraldd's by thread, the sink's, and
# every core's busy time together, whose rest is wrk's and the kernel's own
# threads' (bench/targets.py turns it into what the 20 000/s bound would
# leave heraldd); and smtp-source's own CPU per message with the sink's.
#
# Checks: every accepted event's e-mail reached the sink (counted by the sink)
# and heraldd counted as many deliveries; no non-2xx answers. Writes
# $HERALD_RESULTS/e2e.json (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-10}
RATE=${2:-5000}
BATCH=${3:-100}
source bench/lib.sh
LOAD=$BUILD/bench/herald-http-load
CEILING=$BUILD/bench/herald-http-ceiling
need "$HERALDD" "$LOAD" "$CEILING"
# heraldd's [storage] group_commit_interval_us (default 1000: the interval
# its CommitPacer keeps while the machine shows no steal time), for the
# ceiling too.
INTERVAL_US=$(grep -o -E 'group_commit_interval_us *= *[0-9]+' <<<"${HERALD_STORAGE_TOML:-}" | grep -o -E '[0-9]+$' || true)
INTERVAL_US=${INTERVAL_US:-1000}
# The latency runs offer the same rate for WARMUP s first, unmeasured (a fresh
# heraldd's first requests connect its SMTP pool and fill its first segment).
WARMUP=${E2E_WARMUP:-1}
bench_init e2e

start_sink

# The delivery ceiling: smtp-source into the same sink, once before heraldd's
# throughput runs and once after them; the ceiling is the mean of the two,
# so a machine that speeds up or slows down during the scenario (this VM
# moves by ±20 % from minute to minute) shifts both sides alike.
n=${E2E_CEILING_MESSAGES:-20000}
# run_ceiling → prints smtp-source's e-mails/s and, as compact JSON, the CPU
# per message of smtp-source itself (its rusage) and of the sink, after
# checking the sink got all n.
run_ceiling() {
  local before got timed
  before=$(sink_count); before=${before:-0}
  cpu_snapshot "$spid" "$work/cpu.ceiling.0"
  # posix_spawn, not subprocess: a forked Python's copy-on-write faults
  # before exec are charged to the child (~0.2 s of CPU on a PVM guest).
  timed=$(python3 - smtp-source -s 20 -m "$n" -l 1500 -d "127.0.0.1:$sport" <<'PY'
import os, shutil, sys, time
t0 = time.monotonic()
null = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawn(shutil.which(sys.argv[1]), sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
_, status, used = os.wait4(pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"smtp-source failed: {os.waitstatus_to_exitcode(status)}")
print(time.monotonic() - t0, used.ru_utime + used.ru_stime)
PY
)
  sleep 0.3
  got=$(sink_count); got=${got:-0}
  (( got - before >= n )) || { echo "smtp-source: the sink received $(( got - before )) of $n" >&2; exit 1; }
  cpu_snapshot "$spid" "$work/cpu.ceiling.1"
  cpu_usage "$work/cpu.ceiling.0" "$work/cpu.ceiling.1" "$n" | python3 -c '
import json, sys
seconds, source_cpu = (float(x) for x in sys.argv[2].split())
sink = json.load(sys.stdin)
print(int(sys.argv[1]) / seconds, json.dumps({"source_us": round(source_cpu / int(sys.argv[1]) * 1e6, 2),
      "sink_us": sink["us_per_unit"]}, separators=(",", ":")))' "$n" "$timed"
}
read -r ceiling_before ceiling_cpu_before <<<"$(run_ceiling)"

# The accept-latency ceiling: a durable 202 and nothing else, same load.
mkdir -p "$work/ceiling"
$CEILING --threads 2 --durable "$work/ceiling" --commit-interval-us "$INTERVAL_US" >"$work/ceiling.out" &
ceiling_pid=$!
pids+=("$ceiling_pid")
cport=$(wait_port_line "$work/ceiling.out")
lat_ceiling=$($LOAD --port "$cport" --rate "$RATE" --seconds "$SECONDS_" --warmup "$WARMUP" --connections 64)
kill "$ceiling_pid"
grep -q ' non2xx=0 errors=0 ' <<<"$lat_ceiling" || { echo "durable ceiling: $lat_ceiling" >&2; exit 1; }

start_heraldd "$work" "$PWD/bench/resources-e2e" "$(relay_toml)"

# run_throughput EVENTS_PER_REQUEST CONNECTIONS → sets e2e (e-mails/s) and accepted, after
# checking that every accepted event's e-mail reached the sink.
run_throughput() {
  local before out w_req w_bad w_err w_sec sent_before received_before delivered t0 t1
  before=$(sink_count)
  sent_before=$(metric 'herald_messages_sent_total{transport="relay",status="delivered"}')
  received_before=$(metric 'herald_events_received_total{source="http"}')
  t0=$(now)
  cpu_snapshot "$hpid" "$work/cpu.h$1.0"
  cpu_snapshot "$spid" "$work/cpu.s$1.0"
  out=$(PARTNER=P-BENCH EVENTS_PER_REQUEST=$1 wrk -t2 -c"$2" -d"${SECONDS_}s" --timeout 10s -s bench/wrk/events.lua \
    "http://127.0.0.1:$hport/v1/events" | grep '^requests=')
  read -r w_req w_bad w_err w_sec <<<"$(sed -E 's/[a-z0-9]+=//g' <<<"$out")"
  (( w_bad == 0 )) || { echo "wrk: $w_bad non-2xx answers" >&2; exit 1; }
  wait_http_idle
  accepted=$(metric 'herald_events_received_total{source="http"}')
  accepted=$(( ${accepted%.*} - ${received_before%.*} ))
  (( accepted >= w_req * $1 )) || { echo "heraldd accepted $accepted events, wrk sent $((w_req * $1))" >&2; exit 1; }
  wait_sink $(( before + accepted ))
  t1=$(now)
  cpu_snapshot "$hpid" "$work/cpu.h$1.1"
  cpu_snapshot "$spid" "$work/cpu.s$1.1"
  cpu_herald=$(cpu_usage "$work/cpu.h$1.0" "$work/cpu.h$1.1" "$accepted")
  cpu_sink=$(cpu_usage "$work/cpu.s$1.0" "$work/cpu.s$1.1" "$accepted")
  # heraldd counts an e-mail once it has read the sink's reply, which may
  # come after the sink counted it.
  wait_metric 'herald_messages_sent_total{transport="relay",status="delivered"}' -ge $(( ${sent_before%.*} + accepted ))
  delivered=$(metric 'herald_messages_sent_total{transport="relay",status="delivered"}')
  delivered=$(( ${delivered%.*} - ${sent_before%.*} ))
  (( delivered == accepted )) || { echo "heraldd delivered $delivered e-mails for $accepted events" >&2; exit 1; }
  e2e=$(python3 -c "print($accepted/($t1-$t0))")
}
# 1. Throughput, one event per request.
CONNECTIONS=${E2E_CONNECTIONS:-256}
run_throughput 1 "$CONNECTIONS"
single=$e2e; single_events=$accepted; cpu_single=$cpu_herald; cpu_single_sink=$cpu_sink
# 2. Throughput, NDJSON batches.
run_throughput "$BATCH" 64
batched=$e2e; batched_events=$accepted; cpu_batched=$cpu_herald; cpu_batched_sink=$cpu_sink
read -r ceiling_after ceiling_cpu_after <<<"$(run_ceiling)"
ceiling=$(python3 -c "print(($ceiling_before + $ceiling_after) / 2)")

# 3. Accept latency at a constant offered rate.
# heraldd's group-commit histogram around it: a tail as long as its slowest
# fdatasyncs is the disk's, not heraldd's.
before=$(sink_count)
curl -s "http://127.0.0.1:$hport/metrics" >"$work/metrics.lat0"
lat=$($LOAD --port "$hport" --rate "$RATE" --seconds "$SECONDS_" --warmup "$WARMUP" --connections 64 --partner P-BENCH)
curl -s "http://127.0.0.1:$hport/metrics" >"$work/metrics.lat1"
grep -q ' non2xx=0 errors=0 ' <<<"$lat" || { echo "heraldd latency run: $lat" >&2; exit 1; }
sent=$(grep -o 'ok=[0-9]*' <<<"$lat" | cut -d= -f2)
wait_sink $(( before + sent ))

MACHINE_PY=$MACHINE_PY python3 - "$RESULTS" "$single" "$ceiling" "$single_events" "$lat" "$RATE" "$batched" "$batched_events" "$BATCH" "$lat_ceiling" "$INTERVAL_US" "$ceiling_before" "$ceiling_after" "$CONNECTIONS" \
  "$cpu_single" "$cpu_single_sink" "$cpu_batched" "$cpu_batched_sink" "$work/metrics.lat0" "$work/metrics.lat1" \
  "$ceiling_cpu_before" "$ceiling_cpu_after" <<'PY'
import json, os, platform, re, sys
sys.path.insert(0, "bench")
from cpu_usage import cpu_line, cpu_json, machine_note
results, e2e, ceiling, accepted, lat, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
batched, batched_events, batch = float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
l = dict(kv.split("=") for kv in lat.split())
lc = dict(kv.split("=") for kv in sys.argv[10].split())
interval_us = int(sys.argv[11])
ceiling_runs = [round(float(sys.argv[12])), round(float(sys.argv[13]))]
connections = int(sys.argv[14])
cpu_single, cpu_single_sink, cpu_batched, cpu_batched_sink = (json.loads(x) for x in sys.argv[15:19])
# smtp-source's own CPU per message and the sink's, the mean of its two runs.
ceiling_cpu = [json.loads(x) for x in sys.argv[21:23]]
ceiling_cpu = {k: round(sum(c[k] for c in ceiling_cpu) / len(ceiling_cpu), 2) for k in ceiling_cpu[0]}


def cpu_split(h, s):
    """A run's CPU per e-mail: heraldd's by thread, the sink's, the machine's
    (every core's busy time), and the rest of it (wrk, the kernel's threads)."""
    out = {**cpu_json(h), "sink_us": s["us_per_unit"]}
    if out["others_us"] is not None:
        out["others_us"] = round(max(out["others_us"] - s["us_per_unit"], 0.0), 2)
    return out


def commit_histogram(path, log="journal"):
    """herald_journal_fsync_seconds of one log from a /metrics dump: {le: cumulative count}, sum, count."""
    buckets, total = {}, {}
    with open(path) as f:
        for line in f:
            m = re.match(r'herald_journal_fsync_seconds_(bucket|sum|count)\{log="(\w+)"(?:,le="([^"]+)")?\} (\S+)', line)
            if m and m.group(2) == log:
                if m.group(1) == "bucket":
                    buckets[m.group(3)] = float(m.group(4))
                else:
                    total[m.group(1)] = float(m.group(4))
    return buckets, total


(b0, t0), (b1, t1) = commit_histogram(sys.argv[19]), commit_histogram(sys.argv[20])
commits = int(t1["count"] - t0["count"])
over = lambda le: int((t1["count"] - b1[le]) - (t0["count"] - b0[le]))  # commits slower than le seconds
bounds = [le for le in b1 if le != "+Inf"]
slowest = next((le for le in bounds if over(le) == 0), "+Inf")  # every commit took at most this
with open(sys.argv[20]) as f:  # the journal's paced interval at the end (CommitPacer)
    paced = re.search(r'^herald_log_commit_interval_us\{log="journal"\} (\d+)', f.read(), re.M)
journal_commits = {"commits": commits, "mean_ms": round((t1["sum"] - t0["sum"]) / commits * 1e3, 3) if commits else 0.0,
                   "over_5ms": over("0.005"), "over_10ms": over("0.01"), "over_50ms": over("0.05"),
                   "slowest_at_most_ms": float(slowest) * 1e3 if slowest != "+Inf" else None,
                   "interval_us": int(paced.group(1)) if paced else None}
print(f"\n## End to end: HTTP → journal → match → render → SMTP smtp-sink (history on)\n")
print("| | e-mails/s | ratio |")
print("|---|---:|---:|")
print(f"| smtp-source -s 20 into the same sink (delivery ceiling: mean of {ceiling_runs[0]:,} before and {ceiling_runs[1]:,} after) | {ceiling:,.0f} | 1.00 |")
print(f"| **heraldd**, {accepted:,} events, one per request ({connections} connections), 1 e-mail each | **{e2e:,.0f}** | **{e2e / ceiling:.2f}** |")
print(f"| **heraldd**, {batched_events:,} events in NDJSON batches of {batch} (64 connections), 1 e-mail each | **{batched:,.0f}** | **{batched / ceiling:.2f}** |")
for what, h, s in (("one event per request", cpu_single, cpu_single_sink), (f"batches of {batch}", cpu_batched, cpu_batched_sink)):
    split = cpu_split(h, s)
    print(cpu_line(f"e-mail, {what}", h) + f"; smtp-sink {s['us_per_unit']:g} µs"
          + machine_note(split["machine_us"], split["others_us"], "wrk, the kernel's threads"))
print(f"\nCPU per message of the delivery ceiling: smtp-source {ceiling_cpu['source_us']:g} µs of its own, "
      f"smtp-sink {ceiling_cpu['sink_us']:g} µs")
print(f"\nAccept latency at {rate:,.0f} events/s offered (open loop, {l['measured']} requests measured after "
      f"{int(l['sent']) - int(l['measured'])} of warm-up, achieved "
      f"{float(l['achieved_rate']):,.0f}/s): p50 **{float(l['p50_ms']):.2f} ms**, p90 {float(l['p90_ms']):.2f} ms, "
      f"p99 **{float(l['p99_ms']):.2f} ms**, p99.9 {float(l['p999_ms']):.2f} ms, max {float(l['max_ms']):.2f} ms")
print(f"\n| accept latency at {rate:,.0f}/s | p50 ms | p90 ms | p99 ms | p99.9 ms |\n|---|---:|---:|---:|---:|")
for name, d in ((f"herald-http-ceiling --durable (write + fdatasync only, commit interval {interval_us} µs)", lc),
                ("**heraldd** (journal, history, deliveries)", l)):
    print(f"| {name} | {float(d['p50_ms']):.2f} | {float(d['p90_ms']):.2f} | {float(d['p99_ms']):.2f} | {float(d['p999_ms']):.2f} |")
jc = journal_commits
slowest_text = f"{jc['slowest_at_most_ms']:g} ms" if jc["slowest_at_most_ms"] is not None else "over 100 s"
print(f"\nheraldd's journal group commits during its latency run (warm-up included): {jc['commits']:,}, "
      f"mean {jc['mean_ms']:.2f} ms; {jc['over_5ms']} took over 5 ms, {jc['over_10ms']} over 10 ms, "
      f"{jc['over_50ms']} over 50 ms; "
      f"the slowest at most {slowest_text} (histogram bucket); commit interval at the end {jc['interval_us']} µs")
machine = eval(os.environ["MACHINE_PY"])
with open(os.path.join(results, "e2e.json"), "w") as f:
    json.dump({"e2e": {"herald": round(e2e), "ceiling": round(ceiling), "ratio": round(e2e / ceiling, 3),
                       "unit": "e-mails/s", "events": accepted, "events_per_request": 1, "connections": connections,
                       "ceiling_runs": ceiling_runs, "ceiling_cpu": ceiling_cpu,
                       "cpu": cpu_split(cpu_single, cpu_single_sink)},
               "e2e_batched": {"herald": round(batched), "ceiling": round(ceiling), "ratio": round(batched / ceiling, 3),
                               "unit": "e-mails/s", "events": batched_events, "events_per_request": batch, "connections": 64,
                               "ceiling_runs": ceiling_runs, "ceiling_cpu": ceiling_cpu,
                               "cpu": cpu_split(cpu_batched, cpu_batched_sink)},
               "e2e_latency": {"offered_rate": rate, **{k: float(v) for k, v in l.items()},
                               "journal_commits": journal_commits},
               "e2e_latency_ceiling": {"offered_rate": rate, "commit_interval_us": interval_us,
                                       **{k: float(v) for k, v in lc.items()}},
               "e2e_p99_ms": float(l["p99_ms"]), "e2e_p99_ceiling_ms": float(lc["p99_ms"]),
               "machine": machine}, f, indent=2)
PY
