#!/usr/bin/env bash
# Memory: heraldd's resident set with PARTNERS partners × CONTACTS contacts
# (one action each) loaded from TOML (bench/gen_partners.py), and how long
# loading took.
#
#   bench/rss.sh [PARTNERS] [CONTACTS]     (defaults 100000 10; needs a release build)
#
# Writes $HERALD_RESULTS/rss.json (default bench/results); fails if heraldd
# does not come up within LOAD_TIMEOUT seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/.."
PARTNERS=${1:-100000}
CONTACTS=${2:-10}
BUILD=${HERALD_BUILD:-build/release}
HERALDD=$BUILD/daemon/heraldd
[[ -x $HERALDD ]] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }
RESULTS=${HERALD_RESULTS:-bench/results}
mkdir -p "$RESULTS"
work=$(mktemp -d /tmp/herald-rss-bench.XXXXXX)
hpid=""
cleanup() { [[ -n $hpid ]] && kill "$hpid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 bench/gen_partners.py "$work/resources" "$PARTNERS" "$CONTACTS"
cat >"$work/heraldd.toml" <<TOML
[daemon]
threads = 2
[http]
listen = "127.0.0.1:0"
[storage]
dir = "$work/var"
[resources]
dir = "$work/resources"
TOML
t0=$(date +%s.%N)
$HERALDD --config "$work/heraldd.toml" >"$work/heraldd.log" 2>&1 &
hpid=$!
for _ in $(seq $(( ${LOAD_TIMEOUT:-600} * 10 ))); do
  grep -q '"msg":"listening"' "$work/heraldd.log" && break
  kill -0 "$hpid" 2>/dev/null || { cat "$work/heraldd.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '"msg":"listening"' "$work/heraldd.log" || {
  echo "heraldd did not load $PARTNERS × $CONTACTS within ${LOAD_TIMEOUT:-600} s ($(grep VmRSS /proc/$hpid/status))" >&2
  exit 1
}
t1=$(date +%s.%N)
sleep 1
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$hpid/status)
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
actions=$(grep -o '"actions":[0-9]*' "$work/heraldd.log" | head -1 | cut -d: -f2)
(( actions == PARTNERS * CONTACTS )) || { echo "heraldd indexed $actions actions, expected $((PARTNERS * CONTACTS))" >&2; exit 1; }
python3 - "$RESULTS" "$PARTNERS" "$CONTACTS" "$rss_kb" "$hwm_kb" "$t0" "$t1" <<'PY'
import json, os, platform, sys
results, partners, contacts, rss, hwm, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
print(f"\n## Memory: {partners:,} partners × {contacts} contacts ({partners * contacts:,} actions)\n")
print(f"| RSS after loading | peak (VmHWM) | load time |\n|---:|---:|---:|\n| **{rss / 1024:,.0f} MB** | {hwm / 1024:,.0f} MB | {t1 - t0:.1f} s |")
with open(os.path.join(results, "rss.json"), "w") as f:
    json.dump({"rss_mb": round(rss / 1024, 1), "rss": {"partners": partners, "contacts": contacts,
               "peak_mb": round(hwm / 1024, 1), "load_seconds": round(t1 - t0, 2)},
               "machine": f"{platform.machine()} {os.cpu_count()} cpus {platform.platform()}"}, f, indent=2)
PY
