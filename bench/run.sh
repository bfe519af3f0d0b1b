#!/usr/bin/env bash
# The benchmark harness: builds a release, runs every scenario beside its
# ceiling in one go, and writes $HERALD_RESULTS/latest.json (default
# bench/results) with stable keys plus latest.md (the Markdown tables).
#
#   bench/run.sh               full run
#   bench/run.sh --rounds N    N full rounds; each figure from the round with its median
#                              ratio (bench/merge_results.py), every round's ratios beside it
#   bench/run.sh --smoke       a few seconds, correctness checks only (run by the test suite)
#   bench/run.sh --soak MIN    bench/soak.sh: RSS and throughput over MIN minutes (must stay flat)
#
# Scenarios: http and ndjson (bench/http.sh: heraldd vs a trivial Beast
# server, one event per request under wrk, NDJSON batches under
# herald-http-bulk), smtp (bench/smtp.sh: herald vs
# smtp-source, nodemailer), redis (bench/redis_ingest.sh: herald vs a raw
# read loop, XADD), e2e (bench/e2e.sh: HTTP → SMTP smtp-sink e-mails/s vs
# smtp-source, accept latency p50/p99 at 5k/s open loop), rss (bench/rss.sh:
# memory with 100k partners × 10 contacts). Before them herald-machine-probe
# records what the machine charges per system call, loopback round trip and
# fdatasync ("machine_probe"; README, Performance). Micro benchmarks:
# build/release/bench/herald-micro-bench.
# Each scenario script fails when a count is off, and so does this one:
# figures never come from a run that lost messages. The run ends with each
# target's verdict (bench/targets.py, also under latest.json's "targets")
# and, from the second full run on, a comparison with the previous one
# (bench/keep_run.py keeps every full run's latest.json in
# $HERALD_RESULTS/runs/; bench/compare.py compares any two).
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
ROUNDS=1
case ${1:-} in
  --smoke) SMOKE=1 ;;
  --rounds)
    ROUNDS=${2:-}
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/run.sh --rounds N (N >= 1)" >&2; exit 2; }
    ;;
  --soak)
    [[ -n ${HERALD_BUILD:-} ]] || { cmake --preset release >/dev/null && cmake --build build/release >/dev/null; }
    exec bench/soak.sh "${2:-10}"
    ;;
  "") ;;
  *) echo "usage: bench/run.sh [--smoke | --rounds N | --soak MINUTES]" >&2; exit 2 ;;
esac
export HERALD_RESULTS=${HERALD_RESULTS:-bench/results}
mkdir -p "$HERALD_RESULTS"
if [[ -z ${HERALD_BUILD:-} ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release >/dev/null
fi

md="$HERALD_RESULTS/latest.md"
results=$HERALD_RESULTS
probe=$results/machine_probe.json
# In a directory like the scenarios' own (bench/lib.sh), so fdatasync is timed on their disk.
probe_dir=$(mktemp -d /tmp/herald-probe.XXXXXX)
probe_args=()
(( SMOKE )) && probe_args=(--syncs 20 --round-trips 500)
"${HERALD_BUILD:-build/release}/bench/herald-machine-probe" --dir "$probe_dir" "${probe_args[@]}" >"$probe"
rmdir "$probe_dir"
{
  echo "# herald benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -srm))"
  python3 - "$probe" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
print(f"\nMachine: {p['cpu_model']}, {p['cpus']} cpus{', virtual' if p['hypervisor'] else ''}; "
      f"a system call {p['syscall_ns']:.0f} ns, a loopback TCP round trip {p['loopback_rtt_us']['p50']:.1f} µs "
      f"(p99 {p['loopback_rtt_us']['p99']:.1f}), a 4 KB write + fdatasync {p['fdatasync_ms']['p50']:.2f} ms "
      f"(p99 {p['fdatasync_ms']['p99']:.2f}) (herald-machine-probe)")
PY
  for (( r = 1; r <= ROUNDS; r++ )); do
    # One round's scenario files; a single round writes them where they always were.
    dir=$results
    if (( ROUNDS > 1 )); then
      dir=$results/round-$r
      mkdir -p "$dir"
      echo; echo "# Round $r of $ROUNDS"
    fi
    export HERALD_RESULTS=$dir
    if (( SMOKE )); then
      echo; echo "_smoke mode: tiny runs, correctness only; the figures mean nothing_"
      bench/http.sh 1 8 50
      HERALD_NODEMAILER=0 bench/smtp.sh 2000 2048 4
      bench/redis_ingest.sh 20000
      E2E_CEILING_MESSAGES=2000 E2E_CONNECTIONS=64 bench/e2e.sh 1 500 20
      bench/rss.sh 1000 10
    else
      bench/http.sh
      bench/smtp.sh
      bench/redis_ingest.sh
      bench/e2e.sh
      (( r > 1 )) || bench/rss.sh  # memory does not change from round to round
    fi
  done
} | tee "$md"
round_dirs=()
if (( ROUNDS > 1 )); then
  for (( r = 1; r <= ROUNDS; r++ )); do round_dirs+=("$results/round-$r"); done
else
  round_dirs=("$results")
fi
merge_flags=()
(( SMOKE )) && merge_flags=(--smoke)
commit=$(git describe --always --dirty 2>/dev/null || true)
[[ -n $commit ]] && merge_flags+=(--commit "$commit")
bench/merge_results.py "${merge_flags[@]}" --probe "$probe" --markdown "$md" "${round_dirs[@]}" >"$results/latest.json"
# The merge appended the rounds' medians (several rounds) and the targets' verdicts.
tail -n +$(( $(grep -n -m1 -E '^## (Median of|Targets)' "$md" | cut -d: -f1) - 1 )) "$md"
# Every full run is kept in runs/ and compared with the one before it.
bench/keep_run.py "$results"
echo "wrote $results/latest.json and $md" >&2
