#!/usr/bin/env bash
# Memory: heraldd's resident set with PARTNERS partners × CONTACTS contacts
# (one action each) loaded from TOML (bench/gen_partners.py), and how long
# loading took. Then two SIGHUP reloads, each timed until heraldd publishes
# the new resources: after the template file changed (no partner shard to
# build), then after one partner file changed (its shard only), with the
# peak (VmHWM) after both; every action must still be indexed.
#
#   bench/rss.sh [PARTNERS] [CONTACTS]     (defaults 100000 10; needs a release build)
#
# Writes $HERALD_RESULTS/rss.json (default bench/results); fails if heraldd
# does not come up within LOAD_TIMEOUT seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/.."
PARTNERS=${1:-100000}
CONTACTS=${2:-10}
source bench/lib.sh
need "$HERALDD"
bench_init rss

python3 bench/gen_partners.py "$work/resources" "$PARTNERS" "$CONTACTS"
t0=$(now)
start_heraldd "$work" "$work/resources" "" "${LOAD_TIMEOUT:-600}"
t1=$(now)
sleep 1
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$hpid/status)
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
actions=$(metric herald_rule_index_actions)
dir_bytes=$(metric herald_resources_partner_bytes)
(( actions == PARTNERS * CONTACTS )) || { echo "heraldd indexed $actions actions, expected $((PARTNERS * CONTACTS))" >&2; exit 1; }

# reload FILE → seconds from SIGHUP until the next resources generation is
# published, after a comment was appended to FILE.
reload() {
  echo "# changed for bench/rss.sh" >>"$1"
  local before t deadline=$(( SECONDS + ${LOAD_TIMEOUT:-600} ))
  before=$(metric herald_resources_generation)
  t=$(now)
  kill -HUP "$hpid"
  until (( $(metric herald_resources_generation) > before )); do
    (( SECONDS < deadline )) || { echo "heraldd did not reload $1" >&2; exit 1; }
    sleep 0.02
  done
  python3 -c "print(round($(now) - $t, 3))"
}
reload_template=$(reload "$work/resources/a-templates.toml")
partner_files=("$work"/resources/b-partners-*.toml)
reload_partners=$(reload "${partner_files[-1]}")
reload_hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
actions=$(metric herald_rule_index_actions)
(( actions == PARTNERS * CONTACTS )) || { echo "after the reloads heraldd indexed $actions actions, expected $((PARTNERS * CONTACTS))" >&2; exit 1; }
MACHINE_PY=$MACHINE_PY python3 - "$RESULTS" "$PARTNERS" "$CONTACTS" "$rss_kb" "$hwm_kb" "$t0" "$t1" "$dir_bytes" \
  "$reload_template" "$reload_partners" "$reload_hwm_kb" <<'PY'
import json, os, platform, sys
results, partners, contacts, rss, hwm, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
dir_mb = int(sys.argv[8]) / 2**20
reload_template, reload_partners, reload_hwm = float(sys.argv[9]), float(sys.argv[10]), int(sys.argv[11])
print(f"\n## Memory: {partners:,} partners × {contacts} contacts ({partners * contacts:,} actions)\n")
print(f"| RSS after loading | of which the partner directory | peak (VmHWM) | load time |\n|---:|---:|---:|---:|\n"
      f"| **{rss / 1024:,.0f} MB** | {dir_mb:,.0f} MB | {hwm / 1024:,.0f} MB | {t1 - t0:.1f} s |")
print(f"\nSIGHUP reloads: after a template edit {reload_template:.2f} s, after one partner file changed "
      f"{reload_partners:.2f} s; peak after both {reload_hwm / 1024:,.0f} MB")
with open(os.path.join(results, "rss.json"), "w") as f:
    json.dump({"rss_mb": round(rss / 1024, 1), "rss": {"partners": partners, "contacts": contacts,
               "peak_mb": round(hwm / 1024, 1), "directory_mb": round(dir_mb, 1), "load_seconds": round(t1 - t0, 2),
               "reload_template_seconds": reload_template, "reload_partner_file_seconds": reload_partners,
               "reload_peak_mb": round(reload_hwm / 1024, 1)},
               "machine": eval(os.environ["MACHINE_PY"])}, f, indent=2)
PY
