#!/usr/bin/env bash
# The benchmark harness: builds a release, runs every scenario beside its
# ceiling in one go, and writes $HERALD_RESULTS/latest.json (default
# bench/results) with stable keys plus latest.md (the Markdown tables).
#
#   bench/run.sh            full run
#   bench/run.sh --smoke    a few seconds, correctness checks only (run by the test suite)
#
# Scenarios so far: smtp (bench/smtp.sh: herald vs smtp-source, nodemailer)
# and redis (bench/redis_ingest.sh: herald vs a raw read loop, XADD).
# Each scenario script fails when a count is off, and so does this one:
# figures never come from a run that lost messages.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[[ ${1:-} == --smoke ]] && SMOKE=1
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
    HERALD_NODEMAILER=0 bench/smtp.sh 2000 2048 4
    bench/redis_ingest.sh 20000
  else
    bench/smtp.sh
    bench/redis_ingest.sh
  fi
} | tee "$md"

python3 - "$HERALD_RESULTS" "$SMOKE" >"$HERALD_RESULTS/latest.json" <<'PY'
import json, os, platform, sys, datetime
results, smoke = sys.argv[1], sys.argv[2] == "1"
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "smoke": smoke}
for name in ("smtp", "redis"):
    with open(os.path.join(results, f"{name}.json")) as f:
        data = json.load(f)
    out[name] = data[name]
    out["machine"] = data["machine"]
# Scenarios of the harness issue not measured yet (HTTP, NDJSON, end to end,
# latency, memory) are absent rather than zero.
out["not_measured"] = ["http", "ndjson", "e2e", "e2e_p99_ms", "rss_mb"]
print(json.dumps(out, indent=2))
PY
echo "wrote $HERALD_RESULTS/latest.json and $md" >&2
