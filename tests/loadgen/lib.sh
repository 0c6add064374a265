# Shared by loadgen's integration tests and benchmark (sourced, not run).
# Every wait is bounded; every process started here is killed on exit.
PY=/usr/bin/python3          # Debian's python, which has grpcio
LOADGEN=${LOADGEN:-build/bin/loadgen}
TMP=$(mktemp -d -t loadgen-test.XXXXXX)
PIDS=()

stop_pids() { # PID...: SIGTERM, then SIGKILL after 5 s (bounded)
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null; done
  for pid in "$@"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
}

# Every process a test starts gets a path under $TMP on its command line
# (a port file, a stats file, a JSON result), so anything still running
# with $TMP in its arguments once the known ones are stopped was started
# here and forgotten: it is stopped, and the test fails for it.
cleanup() {
  local rc=$? left
  stop_pids "${PIDS[@]+"${PIDS[@]}"}"
  left=$(pgrep -f -- "$TMP" | grep -vx "$$" | tr '\n' ' ')
  left=${left% }
  if [ -n "$left" ]; then
    echo "FAIL: the test left processes running: $(ps -o pid=,args= -p "${left// /,}" 2>/dev/null | tr '\n' ';')" >&2
    # shellcheck disable=SC2086
    stop_pids $left
    rc=1
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

# wait_file FILE SECONDS: until FILE exists and is not empty.
wait_file() {
  local deadline=$((SECONDS + $2))
  while [ ! -s "$1" ]; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

# start_grpc SCRIPT NAME [args...]: a python3-grpcio server of the tests
# (tests/loadgen/SCRIPT) on a port the OS picks, its stats in NAME.stats
# when it stops; sets PORT_<NAME> and PID_<NAME>.
start_grpc() {
  local script=$1 name=$2; shift 2
  rm -f "$TMP/$name.port"
  $PY "tests/loadgen/$script" --port-file "$TMP/$name.port" \
    --stats-file "$TMP/$name.stats" "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_file "$TMP/$name.port" 30 || { cat "$TMP/$name.log"; fail "$name did not start"; }
  printf -v "PORT_$name" '%s' "$(cat "$TMP/$name.port")"
  printf -v "PID_$name" '%s' "$pid"
}

# start_py_server NAME [args...]: the grpcio notifier (notifier_server.py).
start_py_server() { start_grpc notifier_server.py "$@"; }
# start_chat NAME [args...]: chat.Room (chat_server.py,
# tests/loadgen/proto/chat.proto), a service of the tests' own.
start_chat() { start_grpc chat_server.py "$@"; }

# start_notifier [ARGS...]: the project's notifier (dev mode, libnprof
# embedded) on ports the OS picked, with ARGS (default --quiet: no line per
# stream in $TMP/notifier.log); sets NOTIFIER_GRPC and NOTIFIER_DEBUG
# (ports), or returns 1 when it is not built. Another process may take a
# port in between, so it tries a few times.
start_notifier() {
  local extra=("$@")
  [ $# -gt 0 ] || extra=(--quiet)
  local bin=${NOTIFIER:-build/bin/notifier} attempt npid deadline gport dport
  [ -x "$bin" ] || return 1
  for attempt in 1 2 3; do
    gport=$(free_port); dport=$(free_port)
    "$bin" --grpc-addr 127.0.0.1:$gport --debug-addr 127.0.0.1:$dport \
      --mode dev "${extra[@]}" >"$TMP/notifier.log" 2>&1 &
    npid=$!
    PIDS+=($npid)
    deadline=$((SECONDS + 20))
    while kill -0 $npid 2>/dev/null && [ $SECONDS -lt $deadline ]; do
      if port_open $gport && port_open $dport; then
        NOTIFIER_GRPC=$gport NOTIFIER_DEBUG=$dport
        return 0
      fi
      sleep 0.05
    done
    kill $npid 2>/dev/null
  done
  cat "$TMP/notifier.log"
  fail "notifier did not start"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bench_start NAME: a benchmark's figures go to OUT, build/bench/NAME.json;
# the loadgen must be built. BASE is LOADGEN_BASE (another build of the
# loadgen the benchmarks that take one run next to it), checked when set.
bench_start() {
  OUT=build/bench/$1.json
  mkdir -p build/bench
  [ -x "$LOADGEN" ] || fail "$LOADGEN not built"
  BASE=${LOADGEN_BASE:-}
  [ -z "$BASE" ] || [ -x "$BASE" ] || fail "LOADGEN_BASE=$BASE is not a program"
}

# start_prod_notifier [ARGS...]: the notifier as the benchmarks measure it
# (prod mode: no debug server, no log line per stream), with ARGS, on a
# free port; sets PORT and SPID.
start_prod_notifier() {
  PORT=$(free_port)
  "${NOTIFIER:-build/bin/notifier}" --grpc-addr 127.0.0.1:$PORT \
    --debug-addr 127.0.0.1:$(free_port) --mode prod --quiet "$@" \
    >"$TMP/server.log" 2>&1 &
  SPID=$!
  PIDS+=($SPID)
  local deadline=$((SECONDS + 20))
  until port_open $PORT; do
    [ $SECONDS -ge $deadline ] && fail "notifier did not start"
    sleep 0.05
  done
}

# stop_py_server NAME: SIGTERM, wait (bounded) for its stats file.
stop_py_server() {
  local pid_var="PID_$1"
  kill "${!pid_var}" 2>/dev/null
  wait_file "$TMP/$1.stats" 10 || fail "$1 wrote no stats"
}

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# check_json FILE EXPR...: each EXPR is Python over j (the parsed file).
check_json() {
  $PY tests/loadgen/check_json.py "$@" || fail "check_json $1"
}

# make_certs DIR: a CA and a server certificate it signed, for localhost
# and 127.0.0.1, made with Debian's openssl (DIR/ca.pem, server.pem,
# server.key).
make_certs() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=loadgen test CA" \
    >/dev/null 2>&1 || fail "openssl: CA"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" \
    >/dev/null 2>&1 || fail "openssl: CSR"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" \
    >/dev/null 2>&1 || fail "openssl: sign"
}
