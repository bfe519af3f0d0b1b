#!/usr/bin/env bash
# The benchmark harness: builds a release, runs every scenario beside its
# ceiling in one go, and writes $HERALD_RESULTS/latest.json (default
# bench/results) with stable keys plus latest.md (the Markdown tables).
#
#   bench/run.sh               full run
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
[[ ${1:-} == --smoke ]] && SMOKE=1
if [[ ${1:-} == --soak ]]; then
  [[ -n ${HERALD_BUILD:-} ]] || { cmake --preset release >/dev/null && cmake --build build/release >/dev/null; }
  exec bench/soak.sh "${2:-10}"
fi
export HERALD_RESULTS=${HERALD_RESULTS:-bench/results}
mkdir -p "$HERALD_RESULTS"
if [[ -z ${HERALD_BUILD:-} ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release >/dev/null
fi

md="$HERALD_RESULTS/latest.md"
{
  echo "# herald benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -srm))"
  if (( SMOKE )); then
    echo; echo "_smoke mode: tiny runs, correctness only; the figures mean nothing_"
    bench/http.sh 1 8 50
    HERALD_NODEMAILER=0 bench/smtp.sh 2000 2048 4
    bench/redis_ingest.sh 20000
    E2E_CEILING_MESSAGES=2000 bench/e2e.sh 1 500 20
    bench/rss.sh 1000 10
  else
    bench/http.sh
    bench/smtp.sh
    bench/redis_ingest.sh
    bench/e2e.sh
    bench/rss.sh
  fi
} | tee "$md"

python3 - "$HERALD_RESULTS" "$SMOKE" >"$HERALD_RESULTS/latest.json" <<'PY'
import json, os, platform, sys, datetime
results, smoke = sys.argv[1], sys.argv[2] == "1"
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "smoke": smoke}
for name in ("http", "smtp", "redis", "e2e", "rss"):  # e2e.json also holds e2e_batched
    with open(os.path.join(results, f"{name}.json")) as f:
        data = json.load(f)
    for key, value in data.items():
        if key != "machine":
            out[key] = value
    out["machine"] = data["machine"]
out["not_measured"] = []  # the soak has its own mode and file (soak.json)
print(json.dumps(out, indent=2))
PY
echo "wrote $HERALD_RESULTS/latest.json and $md" >&2
