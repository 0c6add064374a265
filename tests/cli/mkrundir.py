#!/usr/bin/python3
"""Writes a snapshot run directory the way the loadgen does, from a real
process with libnprof preloaded, for the `nprof report` tests.

    tests/cli/mkrundir.py LIB RUN_DIR [--users N] [--leak N] [--threads N]
                          [--skip FILE]... [--no-loadgen] [--no-run-json]
                          [--fail-reason TEXT]

A child /usr/bin/python3 runs with LD_PRELOAD=LIB and NPROF_HEAP_RATE=1024
(dense sampling: stable sums) and the app vars notifier.streams and
notifier.users (set through libnprof's nprof_var_* API with ctypes). This
parent, not preloaded, drives it through the phases and fetches, per phase,
P.heap.pb.gz, P.goroutine.pb.gz, P.heap.txt, P.goroutine.txt and P.vars.json
from its /debug endpoints, then writes loadgen.json and run.json:

  baseline  nothing connected
  plateau   N "users": 16 KiB bytearray each plus a dict; --threads threads
            named "user-conn-K" (--thread-prefix) blocked on an event
  drained   users released except --leak of them; threads stopped

--skip FILE (e.g. drained.heap.pb.gz, or a phase name for all its files)
leaves files out, as a notifier dying mid-test would. Prints the run
directory. Standard library only; every wait is bounded.
"""
import argparse
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

PHASES = ("baseline", "plateau", "drained")
FILES = (("heap.pb.gz", "/debug/pprof/heap"),
         ("goroutine.pb.gz", "/debug/pprof/goroutine"),
         ("heap.txt", "/debug/pprof/heap?debug=1"),
         ("goroutine.txt", "/debug/pprof/goroutine?debug=1"),
         ("vars.json", "/debug/vars"))


def child():
    """The profiled process: obeys one command per stdin line."""
    lib = ctypes.CDLL(None)
    lib.nprof_var_new_int.restype = ctypes.c_void_p
    lib.nprof_var_new_int.argtypes = [ctypes.c_char_p]
    lib.nprof_var_set.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    v_streams = lib.nprof_var_new_int(b"notifier.streams")
    v_users = lib.nprof_var_new_int(b"notifier.users")
    users, leaked, events = [], [], []

    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def park(ev, name):
        # Python does not name OS threads; the profiles see OS names.
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
        ev.wait(120)

    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "connect":
            n, nthreads, prefix = int(cmd[1]), int(cmd[2]), cmd[3]
            for i in range(n):
                users.append({"id": "user-%d" % i, "buf": bytearray(16384)})
            for k in range(nthreads):
                ev = threading.Event()
                t = threading.Thread(target=park, args=(ev, "%s%d" % (prefix, k)),
                                     daemon=True)
                t.start()
                events.append((ev, t))
        elif cmd[0] == "drain":
            keep = int(cmd[1])
            leaked.extend(users[:keep])
            del users[:]
            for ev, t in events:
                ev.set()
                t.join(10)
            del events[:]
        if v_streams and v_users:
            lib.nprof_var_set(v_streams, len(users))
            lib.nprof_var_set(v_users, len(users))
        # Let the thread names and stacks settle before the fetch.
        time.sleep(0.2)
        print("ok", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url, timeout=20):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child()
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("run_dir")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--leak", type=int, default=20)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--thread-prefix", default="user-conn-")
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--no-loadgen", action="store_true")
    ap.add_argument("--fail-reason", default="",
                    help="loadgen.json says the goal was not met, and why")
    ap.add_argument("--no-run-json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.run_dir, exist_ok=True)
    env = dict(os.environ)
    proc = None
    for attempt in range(5):
        port = free_port()
        env.update(LD_PRELOAD=os.path.abspath(a.lib),
                   NPROF_LISTEN="127.0.0.1:%d" % port, NPROF_HEAP_RATE="1024")
        proc = subprocess.Popen(["/usr/bin/python3", os.path.abspath(__file__),
                                 "--child"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, text=True)
        base = "http://127.0.0.1:%d" % port
        ok = proc.stdout.readline().strip() == "ready"
        for _ in range(50):
            try:
                fetch(base + "/debug/vars", 2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            ok = False
        if ok:
            break
        proc.kill()
        proc.wait()
        proc = None
    if proc is None:
        print("mkrundir: the preloaded child did not serve", file=sys.stderr)
        return 1
    stamps = {}
    try:
        for phase in PHASES:
            cmd = {"baseline": "noop",
                   "plateau": "connect %d %d %s" % (a.users, a.threads,
                                                    a.thread_prefix),
                   "drained": "drain %d" % a.leak}[phase]
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            if proc.stdout.readline().strip() != "ok":
                print("mkrundir: child failed at " + phase, file=sys.stderr)
                return 1
            stamps[phase] = round(time.time(), 3)
            for name, path in FILES:
                fname = phase + "." + name
                data = fetch(base + path)
                if phase in a.skip or fname in a.skip:
                    continue
                write_atomic(os.path.join(a.run_dir, fname), data)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not a.no_loadgen:
        lg = {
            "target": "127.0.0.1:50051", "streams_requested": a.users,
            "streams_per_conn": 1, "connections": a.users, "threads": 2,
            "streams_established": a.users, "streams_failed": 0,
            "streams_established_peak": a.users,
            "notifications_received": 3 * a.users,
            "notifications_expected": 3 * a.users,
            "connect_ms": {"p50": 1.2, "p90": 2.5, "p99": 4.0, "p999": 6.1,
                           "max": 7.5},
            "delivery_ms": {"p50": 0.4, "p90": 0.9, "p99": 2.2,
                            "p999": 3.0, "max": 3.3},
            "errors": {"connect": 0, "reset": 0, "timeout": 0},
            "phases": stamps, "ok": not a.fail_reason,
            "reason": a.fail_reason,
        }
        write_atomic(os.path.join(a.run_dir, "loadgen.json"),
                     (json.dumps(lg, indent=2) + "\n").encode())
    if not a.no_run_json:
        run = {"test_count": a.users, "hold": "5s", "rate": 500,
               "publishes": 3, "streams_per_conn": 1,
               "notifier": "127.0.0.1:50051",
               "debug_url": "http://127.0.0.1:8086", "mode": "native"}
        write_atomic(os.path.join(a.run_dir, "run.json"),
                     (json.dumps(run, indent=2) + "\n").encode())
    print(a.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
