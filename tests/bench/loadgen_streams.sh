#!/bin/bash
# Benchmark: loadgen holding 10,000 streams one connection each and 100,000
# streams multiplexed (100 per connection), then h2load holding the same
# 10,000 connections (one Connect stream each) against the same server.
# Reports RSS per stream, stream establishment rate, broadcast delivery p99
# and end-to-end broadcast p99 (broadcast_ms), with ratios, and writes them
# to build/bench/loadgen.json.
#
# The server is build/bin/notifier (prod mode) when built, else the
# python3-grpcio notifier (10,000 only: it cannot hold 100,000). Server and
# clients share this machine's cores, so the establishment rate is the
# pair's, and the server usually sets it.
#   BENCH_STREAMS (10000), BENCH_MUX_STREAMS (100000), BENCH_MUX_PER_CONN (100)
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
N=${BENCH_STREAMS:-10000}
M=${BENCH_MUX_STREAMS:-100000}
K=${BENCH_MUX_PER_CONN:-100}
NOTIFIER=${NOTIFIER:-build/bin/notifier}
bench_start loadgen
established() { ss -Htn state established "( sport = :$1 )" | wc -l; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_server() {
  if [ -x "$NOTIFIER" ]; then
    SERVER=notifier
    start_prod_notifier
  else
    SERVER=python-grpcio
    start_py_server py
    PORT=$PORT_py
    SPID=$PID_py
  fi
}

stop_server() {
  kill $SPID 2>/dev/null
  for _ in $(seq 100); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  kill -9 $SPID 2>/dev/null
}

run_loadgen() { # NAME STREAMS PER_CONN
  note "loadgen: $2 streams, $3 per connection, against $SERVER"
  /usr/bin/time -f "%U %S %M" -o "$TMP/$1.time" timeout 240 "$LOADGEN" \
    --target 127.0.0.1:$PORT --streams $2 --streams-per-conn $3 --hold 1s \
    --settle 1s --publish 1 --ramp-timeout 60s --json "$TMP/$1.json" --quiet
  local rc=$?
  [ $rc -eq 0 ] || fail "loadgen $1: exit $rc"
}

start_server
run_loadgen conn $N 1
if [ "$SERVER" = notifier ]; then
  run_loadgen mux $M $K
else
  echo "(python server: skipping the $M-stream run)"
fi
stop_server

# h2load: the same N users, one connection and one Connect stream each. It
# cannot read gRPC messages, so only memory and connection rate compare.
H2=skipped
if command -v h2load >/dev/null; then
  start_server
  note "h2load: $N connections, one Connect stream each, against $SERVER"
  $PY -c '
import struct, sys
msg = b"\x0a\x06h2load"          # ConnectRequest{user_id: "h2load"}
sys.stdout.buffer.write(b"\x00" + struct.pack(">I", len(msg)) + msg)' \
    >"$TMP/body.bin"
  t0=$(date +%s%N)
  h2load -n $N -c $N -m 1 -t 1 -d "$TMP/body.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT/notifier.Notifier/Connect" >"$TMP/h2load.out" 2>&1 &
  HPID=$!
  PIDS+=($HPID)
  # Held when the server has N established connections and h2load's RSS
  # has stopped growing (it allocates per stream after connecting).
  deadline=$((SECONDS + 120)); t_all=0; last=0; stable=0
  while [ $SECONDS -lt $deadline ] && kill -0 $HPID 2>/dev/null; do
    if [ $t_all -eq 0 ] && [ "$(established $PORT)" -ge $N ]; then
      t_all=$(date +%s%N)
    fi
    if [ $t_all -ne 0 ]; then
      r=$(rss_kib $HPID)
      if [ "$r" -eq "$last" ]; then stable=$((stable + 1)); else stable=0; fi
      last=$r
      [ $stable -ge 10 ] && break
    fi
    sleep 0.1
  done
  if [ $t_all -ne 0 ]; then
    H2_RSS=$(rss_kib $HPID)
    H2_SECS=$(awk -v a=$t0 -v b=$t_all 'BEGIN {printf "%.3f", (b - a) / 1e9}')
    H2=ok
  else
    H2="did not reach $N connections"
  fi
  kill $HPID 2>/dev/null
  stop_server
fi

$PY - "$TMP" "$N" "$M" "$SERVER" "$H2" "${H2_RSS:-0}" "${H2_SECS:-0}" "$OUT" <<'PYEOF'
import json, os, sys
tmp, n, m, server, h2, h2_rss, h2_secs, out = sys.argv[1:]
n, m, h2_rss, h2_secs = int(n), int(m), int(h2_rss), float(h2_secs)
res = {"server": server, "cases": {}}
def case(name):
    p = os.path.join(tmp, name + ".json")
    if not os.path.exists(p):
        return None
    j = json.load(open(p))
    u, s, maxrss = open(os.path.join(tmp, name + ".time")).read().split()
    est = j["streams_established_peak"]
    c = {"streams": est, "connections": j["connections"],
         "rss_kib_plateau": j["client_rss_kib"]["plateau"],
         "rss_bytes_per_stream_total": j["client_rss_kib"]["plateau"] * 1024 / est,
         "rss_bytes_per_stream_over_baseline": j["client_rss_bytes_per_stream"],
         "establish_rate_per_s": j["establish_rate_per_s"],
         "connect_p99_ms": j["connect_ms"]["p99"],
         "delivery_p99_ms": j["delivery_ms"]["p99"],
         "delivery_count": j["delivery_ms"]["count"],
         "broadcast_p50_ms": j.get("broadcast_ms", {}).get("p50"),
         "broadcast_p99_ms": j.get("broadcast_ms", {}).get("p99"),
         "cpu_seconds": float(u) + float(s)}
    res["cases"][name] = c
    return c
conn, mux = case("conn"), case("mux")
if h2 == "ok":
    # h2load cannot tell when a gRPC stream is answered: its rate is TCP
    # connections established at the server, not streams.
    res["cases"]["h2load"] = {"connections": n, "rss_kib": h2_rss,
                              "rss_bytes_per_conn_total": h2_rss * 1024 / n,
                              "tcp_connections_per_s": n / h2_secs}
else:
    res["h2load"] = h2
json.dump(res, open(out, "w"), indent=1)
print("\n%-34s %14s %14s %14s" % ("", "loadgen %d/1" % n,
      ("loadgen %d/mux" % m) if mux else "-", "h2load %d" % n))
def row(label, a, b, c, fmt):
    f = lambda v: (fmt % v) if v is not None else "-"
    print("%-34s %14s %14s %14s" % (label, f(a), f(b), f(c)))
h = res["cases"].get("h2load")
row("RSS per stream, total (bytes)", conn["rss_bytes_per_stream_total"],
    mux and mux["rss_bytes_per_stream_total"], h and h["rss_bytes_per_conn_total"], "%.0f")
row("RSS per stream, over baseline", conn["rss_bytes_per_stream_over_baseline"],
    mux and mux["rss_bytes_per_stream_over_baseline"], None, "%.0f")
row("streams established per s", conn["establish_rate_per_s"],
    mux and mux["establish_rate_per_s"], None, "%.0f")
row("TCP connections per s (h2load)", None, None,
    h and h["tcp_connections_per_s"], "%.0f")
row("connect p99 (ms)", conn["connect_p99_ms"], mux and mux["connect_p99_ms"], None, "%.1f")
row("broadcast delivery p99 (ms)", conn["delivery_p99_ms"],
    mux and mux["delivery_p99_ms"], None, "%.2f")
row("broadcast end-to-end p99 (ms)", conn["broadcast_p99_ms"],
    mux and mux["broadcast_p99_ms"], None, "%.2f")
row("loadgen CPU (s)", conn["cpu_seconds"], mux and mux["cpu_seconds"], None, "%.2f")
if h:
    print("ratio h2load/loadgen RSS per connection-held user: %.2fx"
          % (h["rss_bytes_per_conn_total"] / conn["rss_bytes_per_stream_total"]))
print("server: %s; figures in %s" % (server, out))
PYEOF
