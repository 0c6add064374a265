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

# start_py_server NAME [args...]: starts the grpcio notifier on a port the
# OS picks; sets PORT_<NAME> and PID_<NAME>.
start_py_server() {
  local name=$1; shift
  rm -f "$TMP/$name.port"
  $PY tests/loadgen/notifier_server.py --port-file "$TMP/$name.port" \
    --stats-file "$TMP/$name.stats" "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_file "$TMP/$name.port" 30 || { cat "$TMP/$name.log"; fail "$name did not start"; }
  printf -v "PORT_$name" '%s' "$(cat "$TMP/$name.port")"
  printf -v "PID_$name" '%s' "$pid"
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

# start_chat NAME [args...]: tests/loadgen/chat_server.py (chat.Room on
# python3-grpcio) on a port the OS picks; sets PORT_<NAME>, PID_<NAME>.
start_chat() {
  local name=$1; shift
  rm -f "$TMP/$name.port"
  $PY tests/loadgen/chat_server.py --port-file "$TMP/$name.port" \
    --stats-file "$TMP/$name.stats" "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_file "$TMP/$name.port" 30 || { cat "$TMP/$name.log"; fail "$name did not start"; }
  printf -v "PORT_$name" '%s' "$(cat "$TMP/$name.port")"
  printf -v "PID_$name" '%s' "$pid"
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
