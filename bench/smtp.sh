#!/usr/bin/env bash
# SMTP client benchmark: herald's pool beside Postfix's smtp-source (and
# nodemailer's pooled transport when node/npm are present), all sending into
# one smtp-sink, in one run.
#
#   bench/smtp.sh [MESSAGES] [SIZE] [CONNECTIONS]     (defaults 100000 2048 20; needs a release build)
#
# HERALD_NODEMAILER=0 skips nodemailer; it sends min(MESSAGES, NODE_MESSAGES=10000) twice: as it
# comes (Nagle's algorithm on: a few hundred messages/s here) and with TCP_NODELAY on its sockets
# (its best, ~5x that here); 100k would take minutes, and a rate is a rate.
#
# Each client's count is checked against the sink's own message counter;
# a run where the sink saw fewer messages than a client claims fails.
# Prints a table and writes $HERALD_RESULTS/smtp.json (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-100000}
SIZE=${2:-2048}
CONNECTIONS=${3:-20}
NODE_MESSAGES=$(( MESSAGES < ${NODE_MESSAGES:-10000} ? MESSAGES : ${NODE_MESSAGES:-10000} ))
BUILD=${HERALD_BUILD:-build/release}
BENCH=$BUILD/bench/herald-smtp-bench
[[ -x $BENCH ]] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }

work=$(mktemp -d /tmp/herald-smtp-bench.XXXXXX)
sink_pid=""
cleanup() {
  [[ -n $sink_pid ]] && kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user_flag=(); [[ $(id -u) == 0 ]] && user_flag=(-u nobody)
# -c: running counters ("mesg=N") on stdout; backlog 1024.
smtp-sink "${user_flag[@]}" -c "127.0.0.1:$port" 1024 >"$work/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.05; done

sink_count() { sleep 0.3; tr '\r' '\n' <"$work/sink.out" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
now() { date +%s.%N; }
check() {  # name before after expected
  local got=$(( $3 - $2 ))
  [[ $got -ge $4 ]] || { echo "$1: the sink received $got messages, expected $4" >&2; exit 1; }
}

before=$(sink_count); before=${before:-0}
t0=$(now)
smtp-source -s "$CONNECTIONS" -m "$MESSAGES" -l "$SIZE" -d "127.0.0.1:$port" >/dev/null
t1=$(now)
after=$(sink_count)
check smtp-source "$before" "$after" "$MESSAGES"
source_rate=$(python3 -c "print($MESSAGES/($t1-$t0))")

before=$after
herald_out=$($BENCH --host 127.0.0.1 --port "$port" --messages "$MESSAGES" --size "$SIZE" --connections "$CONNECTIONS")
after=$(sink_count)
check herald "$before" "$after" "$MESSAGES"
herald_rate=$(tail -n1 <<<"$herald_out" | cut -d= -f2)
herald_cores=$(grep -o 'cores=[0-9.]*' <<<"$herald_out" | cut -d= -f2)

node_rate=""
if [[ ${HERALD_NODEMAILER:-1} != 0 ]] && command -v node >/dev/null && command -v npm >/dev/null; then
  if [[ ! -d bench/nodemailer/node_modules/nodemailer ]]; then
    (cd bench/nodemailer && npm install --silent --no-audit --no-fund >/dev/null 2>&1) || echo "npm install failed; skipping nodemailer" >&2
  fi
  if [[ -d bench/nodemailer/node_modules/nodemailer ]]; then
    node_run() {  # [nodelay] → its messages/s, checked against the sink
      before=$after
      node_out=$(node bench/nodemailer/bench.js 127.0.0.1 "$port" "$NODE_MESSAGES" "$SIZE" "$CONNECTIONS" "$@")
      after=$(sink_count)
      check "nodemailer $*" "$before" "$after" "$NODE_MESSAGES"
      tail -n1 <<<"$node_out" | cut -d= -f2
    }
    node_rate=$(node_run)
    node_nodelay_rate=$(node_run nodelay)
  fi
fi

printf '\n| SMTP into one smtp-sink (%s messages, %s B, %s connections) | messages/s | herald ÷ it |\n|---|---:|---:|\n' \
  "$MESSAGES" "$SIZE" "$CONNECTIONS"
printf '| Postfix smtp-source (-d) | %.0f | %.2f |\n' "$source_rate" "$(python3 -c "print($herald_rate/$source_rate)")"
if [[ -n $node_rate ]]; then
  node_version=$(node -p 'require("./bench/nodemailer/node_modules/nodemailer/package.json").version')
  printf '| nodemailer %s pool (%s messages, as it comes) | %.0f | %.2f |\n' \
    "$node_version" "$NODE_MESSAGES" "$node_rate" "$(python3 -c "print($herald_rate/$node_rate)")"
  printf '| nodemailer %s pool (%s messages, TCP_NODELAY) | %.0f | %.2f |\n' \
    "$node_version" "$NODE_MESSAGES" "$node_nodelay_rate" "$(python3 -c "print($herald_rate/$node_nodelay_rate)")"
fi
printf '| **herald-smtp-bench** (%s cores) | %.0f | 1.00 |\n' "$herald_cores" "$herald_rate"
RESULTS=${HERALD_RESULTS:-bench/results}
mkdir -p "$RESULTS"
python3 - "$herald_rate" "$source_rate" "${node_rate:-0}" "$herald_cores" "$MESSAGES" "$SIZE" "$CONNECTIONS" "${node_nodelay_rate:-0}" \
  >"$RESULTS/smtp.json" <<'PY'
import json, sys, platform, os
h, src, node, cores = map(float, sys.argv[1:5])
n, size, conns = map(int, sys.argv[5:8])
node_nodelay = float(sys.argv[8])
out = {"smtp": {"herald": h, "ceiling": src, "ratio": round(h / src, 3), "unit": "messages/s",
                "herald_cores": cores, "messages": n, "size": size, "connections": conns},
       "machine": f"{platform.machine()} {os.cpu_count()} cpus {platform.platform()}"}
if node:
    out["smtp"]["nodemailer"] = node
    out["smtp"]["ratio_nodemailer"] = round(h / node, 3)
    out["smtp"]["nodemailer_nodelay"] = node_nodelay
    out["smtp"]["ratio_nodemailer_nodelay"] = round(h / node_nodelay, 3)
print(json.dumps(out, indent=2))
PY
