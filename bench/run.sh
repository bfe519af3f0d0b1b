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
# memory with 100k partners × 10 contacts). Micro benchmarks:
# build/release/bench/herald-micro-bench.
# Each scenario script fails when a count is off, and so does this one:
# figures never come from a run that lost messages.
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
{
  echo "# herald benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -srm))"
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
smoke_flag=()
(( SMOKE )) && smoke_flag=(--smoke)
bench/merge_results.py "${smoke_flag[@]}" --markdown "$md" "${round_dirs[@]}" >"$results/latest.json"
(( ROUNDS == 1 )) || tail -n +$(( $(grep -n '^## Median of' "$md" | tail -1 | cut -d: -f1) - 1 )) "$md"
echo "wrote $results/latest.json and $md" >&2
