# Shared by bench/http.sh, e2e.sh, rss.sh and soak.sh (sourced from the repository root).
BUILD=${HERALD_BUILD:-build/release}
HERALDD=$BUILD/daemon/heraldd
RESULTS=${HERALD_RESULTS:-bench/results}
mkdir -p "$RESULTS"
MACHINE_PY='f"{platform.machine()} {os.cpu_count()} cpus {platform.platform()}"'
pids=()

# bench_init NAME: a work directory removed (kept with HERALD_KEEP_WORK=1, for
# heraldd.log), and every started process killed, at exit.
bench_init() {
  work=$(mktemp -d "/tmp/herald-$1-bench.XXXXXX")
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${HERALD_KEEP_WORK:-} == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
need() {  # executables that must exist
  for f; do [[ -x $f ]] || { echo "$f missing; build first: cmake --preset release && cmake --build build/release" >&2; exit 1; }; done
}
wait_port_line() {  # file → the port a bench server printed there (port=N)
  for _ in $(seq 200); do
    local p
    p=$(grep -o -m1 -E '^port=[0-9]+' "$1" 2>/dev/null | grep -o -E '[0-9]+$' || true)
    [[ -n $p ]] && { echo "$p"; return; }
    sleep 0.05
  done
  echo "no port in $1" >&2; exit 1
}
# cpu_snapshot PID FILE: the machine's and PID's CPU ticks so far, for
# bench/cpu_usage.py (CPU per event between two snapshots). Thread names
# have no spaces here, so /proc's stat fields 14-15 (utime, stime) are where
# awk counts them; io_uring workers are named iou-wrk-TID, counted as one.
# The process line also gives its system time alone (stime: its time in the
# kernel, its system calls' TCP and disk work). Also the bytes PID has sent
# toward its disk (/proc/PID/io write_bytes: pages it dirtied, exited threads
# included).
cpu_snapshot() {
  {
    echo "machine $(awk '/^cpu /{$1 = ""; print substr($0, 2); exit}' /proc/stat)"
    echo "process $1 $(awk '{print $14 + $15, $15}' "/proc/$1/stat")"
    echo "disk $(awk '/^write_bytes/{print $2}' "/proc/$1/io" 2>/dev/null || true)"
    local t
    for t in /proc/"$1"/task/*; do
      awk -v tid="${t##*/}" '{gsub(/[()]/, "", $2); sub(/^iou-wrk-.*/, "iou-wrk", $2); print "thread", tid, $2, $14 + $15}' \
        "$t/stat" 2>/dev/null || true
    done
  } >"$2"
}
# cpu_usage BEFORE AFTER UNITS: the JSON of bench/cpu_usage.py for two snapshots.
cpu_usage() { python3 bench/cpu_usage.py "$1" "$2" "$3"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# heraldd_toml DIR RESOURCES_DIR [EXTRA_TOML]: writes DIR/heraldd.toml, the
# benchmarks' config (2 threads, HTTP on $hport, storage in DIR/var).
# HERALD_STORAGE_TOML adds keys to its [storage] table; HERALD_THREADS sets
# [daemon] threads (3 puts HTTP on two threads beside the delivery thread).
heraldd_toml() {
  mkdir -p "$1"
  cat >"$1/heraldd.toml" <<TOML
[daemon]
threads = ${HERALD_THREADS:-2}
log_level = "warn"
[http]
listen = "127.0.0.1:$hport"
[storage]
dir = "$1/var"
${HERALD_STORAGE_TOML:-}
[resources]
dir = "$2"
${3:-}
TOML
}

# start_heraldd DIR RESOURCES_DIR [EXTRA_TOML] [TIMEOUT_S]: heraldd on a free
# port with storage in DIR; sets hpid and hport once /healthz answers.
start_heraldd() {
  hport=$(free_port)
  heraldd_toml "$1" "$2" "${3:-}"
  $HERALDD --config "$1/heraldd.toml" >"$1/heraldd.log" 2>&1 &
  hpid=$!
  pids+=("$hpid")
  local deadline=$(( SECONDS + ${4:-10} ))
  while (( SECONDS < deadline )); do
    curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && return 0
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.05
  done
  echo "heraldd did not start within ${4:-10} s:" >&2; tail -5 "$1/heraldd.log" >&2; exit 1
}
metric() {  # name → its value (summed over matching lines) from heraldd's /metrics
  curl -s "http://127.0.0.1:$hport/metrics" | awk -v n="$1" '$1 == n {s += $2} END {print s + 0}'
}
wait_metric() {  # NAME TEST VALUE [TIMEOUT_S=30]: until `[ metric TEST VALUE ]` holds (-eq, -ge, …), or fail
  local deadline=$(( SECONDS + ${4:-30} )) v
  while (( SECONDS < deadline )); do
    v=$(metric "$1"); v=${v%.*}
    [ "$v" "$2" "$3" ] && return 0
    sleep 0.1
  done
  echo "heraldd's $1 is $(metric "$1"), expected $2 $3" >&2; exit 1
}
# wait_http_idle: until heraldd has finished every request it read. A load
# generator stopping at its deadline closes connections whose requests
# heraldd is still committing; those events are accepted (and their e-mails
# sent) after it exits. The asking /metrics request is the one connection
# left.
wait_http_idle() { wait_metric herald_http_connections -eq 1; }

# start_sink: Postfix's smtp-sink on a free port (sets sport, spid); sink_count
# prints how many messages it has received (its running "mesg=" counter).
start_sink() {
  sport=$(free_port)
  local user_flag=(); [[ $(id -u) == 0 ]] && user_flag=(-u nobody)
  smtp-sink "${user_flag[@]}" -c "127.0.0.1:$sport" 1024 >"$work/sink.out" 2>&1 &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$sport))" 2>/dev/null && break; sleep 0.05; done
}
sink_count() { tr '\r' '\n' <"$work/sink.out" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
wait_sink() {  # TOTAL [TIMEOUT_S=180]: until the sink has received TOTAL messages, or fail
  local deadline=$(( SECONDS + ${2:-180} )) c
  while (( SECONDS < deadline )); do
    c=$(sink_count); (( ${c:-0} >= $1 )) && return 0
    sleep 0.1
  done
  echo "the sink received $(sink_count) messages, expected $1" >&2; exit 1
}

# relay_toml: heraldd config delivering e-mail through the sink of start_sink,
# over RELAY_CONNECTIONS pooled connections (default 20: as many sessions as
# the smtp-source ceiling of bench/e2e.sh uses).
relay_toml() {
  cat <<TOML
[delivery]
email_transport = "relay"
from = "fakturacia@herald.example"
[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = $sport
max_connections = ${RELAY_CONNECTIONS:-20}
tls = "none"
TOML
}
