#!/usr/bin/python3
"""Writes a load test's run folder the way the loadgen does (contracts:
run.json, loadgen.json, timeline.jsonl, per-phase snapshots), from a real
process with libnprof preloaded, for the nprof report and compare tests.

    tests/cli/mkrundir.py LIB RUN_DIR [--users N] [--leak N] [--threads N]
        [--thread-prefix P] [--skip FILE]... [--no-loadgen] [--no-run-json]
        [--fail-reason TEXT] [--service PROG ARG...] [--users-var NAME]
        [--timeline] [--ramp-steps K] [--drain-steps K] [--hold-samples N]
        [--interval S] [--torn] [--vars-gap] [--legacy] [--error NAME=N]...

The process: by default a child /usr/bin/python3 with the app vars
notifier.streams and notifier.users (set through libnprof's nprof_var_* API
with ctypes); with --service, that program (tests/cli/alloc_service.c's
protocol: connect N, release N, drain KEEP, noop; "ok" after each), whose
users variable is svc.users. It runs with LD_PRELOAD=LIB and
NPROF_HEAP_RATE=1024 (dense sampling: stable sums). This parent, not
preloaded, drives it through the phases and fetches, per phase,
P.heap.pb.gz, P.goroutine.pb.gz, P.heap.txt, P.goroutine.txt and
P.vars.json from its /debug endpoints:

  baseline  nothing connected
  plateau   N users (python: 16 KiB bytearray each plus a dict, and
            --threads threads named "user-conn-K" blocked on an event)
  drained   users released except --leak of them; threads stopped

--timeline also samples /debug/vars into timeline.jsonl as the loadgen
does (after one heap and thread profile served first: libnprof's first
one loads symbol tables, tens of MiB), on a schedule fixed in advance so
the test knows what to expect:
--hold-samples samples at baseline, one after each of --ramp-steps steps of
connecting, one at plateau, --hold-samples while holding, one after each of
--drain-steps steps of releasing, and --hold-samples once drained.
--vars-gap makes one hold sample's vars null (a failed fetch); --torn
appends half a line, as a crash mid-write leaves it.

loadgen.json and run.json follow contracts.md (histograms of connect and
delivery latency from known values, the phases' times, client_rss_kib);
--legacy writes the older fields instead (rss_kib, no histograms, no
users_var). --skip FILE (e.g. drained.heap.pb.gz, or a phase name for all
its files) leaves files out, as a service dying mid-test would.

Prints one JSON line: the run folder, the timeline's sample count and the
phases. Standard library only; every wait is bounded; the child is stopped
on every path.
"""
import argparse
import ctypes
import json
import math
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
SUB_BITS = 7  # loadgen/histogram.c's LG_HIST_SUB_BITS


def child():
    """The Python stand-in service: obeys one command per stdin line."""
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
            n = int(cmd[1])
            nthreads = int(cmd[2]) if len(cmd) > 2 else 0
            prefix = cmd[3] if len(cmd) > 3 else "user-conn-"
            for i in range(n):
                users.append({"id": "user-%d" % len(users),
                              "buf": bytearray(16384)})
            for k in range(nthreads):
                ev = threading.Event()
                t = threading.Thread(target=park, args=(ev, "%s%d" % (prefix, k)),
                                     daemon=True)
                t.start()
                events.append((ev, t))
        elif cmd[0] == "release":
            del users[max(0, len(users) - int(cmd[1])):]
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


def own_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])  # KiB
    return 0


# ---- the loadgen's histogram layout (loadgen/histogram.c) ----

def hist_index(us):
    sub, half = 1 << SUB_BITS, 1 << (SUB_BITS - 1)
    if us < sub:
        return us
    e = us.bit_length() - 1 - (SUB_BITS - 1)
    return sub + (e - 1) * half + ((us >> e) - half)


def bucket_high(idx):
    sub, half = 1 << SUB_BITS, 1 << (SUB_BITS - 1)
    if idx < sub:
        return idx
    e = (idx - sub) // half + 1
    s = (idx - sub) % half + half
    return ((s + 1) << e) - 1


def histogram(values_us):
    """The loadgen's JSON for a list of microsecond values: the summary
    (ms) and the full histogram, percentiles as lg_hist_quantile."""
    counts = {}
    for v in values_us:
        i = hist_index(v)
        counts[i] = counts.get(i, 0) + 1
    lo, hi, n = min(values_us), max(values_us), len(values_us)

    def q(p):
        rank = max(1, math.ceil(p * n))
        seen = 0
        for i in sorted(counts):
            seen += counts[i]
            if seen >= rank:
                return min(max(bucket_high(i), lo), hi)
        return hi
    summary = {"count": n, "p50": q(0.5) / 1000, "p90": q(0.9) / 1000,
               "p99": q(0.99) / 1000, "p999": q(0.999) / 1000,
               "max": hi / 1000}
    full = {"layout": {"name": "log-linear", "sub_bucket_bits": SUB_BITS,
                       "unit": "us"},
            "count": n, "min": lo, "max": hi, "sum": sum(values_us),
            "buckets": [[i, counts[i]] for i in sorted(counts)]}
    return summary, full


class Run:
    def __init__(self, a, proc, base):
        self.a, self.proc, self.base = a, proc, base
        self.connected = 0
        self.established_total = 0
        self.marks = {}
        self.tl = None
        self.samples = 0
        if a.timeline:
            self.tl = open(os.path.join(a.run_dir, "timeline.jsonl"), "w")

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            raise RuntimeError("the service failed at: " + cmd)

    def sample(self, phase, gap=False):
        if self.tl is None:
            return
        vars_ = None
        if not gap:
            try:
                vars_ = json.loads(fetch(self.base + "/debug/vars", 5))
            except (OSError, ValueError):
                vars_ = None
        line = {"t": round(time.time(), 3), "phase": phase, "vars": vars_,
                "loadgen": {"connected": self.connected,
                            "established_total": self.established_total,
                            "messages": 0, "errors": 0,
                            "client_rss_bytes": own_rss() * 1024}}
        self.tl.write(json.dumps(line) + "\n")
        self.tl.flush()
        self.samples += 1
        time.sleep(self.a.interval)

    def snapshot(self, phase):
        self.marks[phase] = round(time.time(), 3)
        for name, path in FILES:
            fname = phase + "." + name
            data = fetch(self.base + path)
            if phase in self.a.skip or fname in self.a.skip:
                continue
            write_atomic(os.path.join(self.a.run_dir, fname), data)

    def connect(self, n, first):
        if self.a.service:
            self.send("connect %d" % n)
        else:
            self.send("connect %d %d %s" % (n, self.a.threads if first else 0,
                                             self.a.thread_prefix))
        self.connected += n
        self.established_total += n

    def go(self):
        a = self.a
        if a.timeline:
            # libnprof's first profile loads the symbol tables (and, with
            # libc6-dbg installed, libc's debug info): tens of MiB of RSS
            # that would otherwise land between the baseline samples and
            # the ramp. Served once before the run, as a service looked at
            # before would be.
            fetch(self.base + "/debug/pprof/heap")
            fetch(self.base + "/debug/pprof/goroutine")
        self.marks["start"] = round(time.time(), 3)
        self.send("noop")
        for _ in range(a.hold_samples if a.timeline else 0):
            self.sample("baseline")
        self.snapshot("baseline")
        self.marks["connect"] = round(time.time(), 3)
        steps = a.ramp_steps if a.timeline else 1
        for k in range(steps):
            n = a.users * (k + 1) // steps - a.users * k // steps
            self.connect(n, k == 0)
            self.sample("ramp")
        self.sample("plateau")
        self.snapshot("plateau")
        for k in range(a.hold_samples if a.timeline else 0):
            self.sample("hold", gap=a.vars_gap and k == 0)
        self.marks["hold_end"] = round(time.time(), 3)
        steps = a.drain_steps if a.timeline else 1
        going = a.users - a.leak
        for k in range(steps - 1):
            n = going * (k + 1) // steps - going * k // steps
            self.send("release %d" % n)
            self.connected -= n
            self.sample("drain")
        self.send("drain %d" % a.leak)
        self.connected = 0
        self.sample("drain")
        self.sample("drained")
        self.snapshot("drained")
        for _ in range(a.hold_samples - 1 if a.timeline else 0):
            self.sample("drained")
        self.marks["end"] = round(time.time(), 3)
        if self.tl is not None:
            if a.torn:
                self.tl.write('{"t": %.3f, "phase": "drained", "vars": {"pro'
                              % time.time())
            self.tl.close()


def loadgen_json(a, marks):
    lg = {
        "target": "127.0.0.1:50051", "streams_requested": a.users,
        "streams_per_conn": 1, "connections": a.users, "threads": 2,
        "streams_established": a.users, "streams_failed": 0,
        "streams_established_peak": a.users, "establishments": a.users,
        "failure_events": 0,
        "notifications_received": 3 * a.users,
        "notifications_expected": 3 * a.users,
        "establish_seconds": 0.25, "establish_rate_per_s": a.users / 0.25,
        "errors": {"connect": 0, "reset": 0, "timeout": 0},
        "phases": marks, "ok": not a.fail_reason, "reason": a.fail_reason,
    }
    for e in a.error:
        name, _, n = e.partition("=")
        lg["errors"][name] = int(n)
    # Known latencies: connect 500 us to 5.4 ms in 100 us steps, delivery
    # 200 us to 2.1 ms; the summary and the full histogram agree.
    connect = [500 + 100 * (i % 50) for i in range(a.users)]
    delivery = [200 + 10 * (i % 191) for i in range(3 * a.users)]
    c_sum, c_full = histogram(connect)
    d_sum, d_full = histogram(delivery)
    lg["connect_ms"], lg["delivery_ms"] = c_sum, d_sum
    rss = own_rss()
    if a.legacy:
        lg["rss_kib"] = {"baseline": rss, "plateau": rss}
        lg["rss_bytes_per_stream"] = 0.0
    else:
        lg["messages_received"] = 3 * a.users
        lg["bytes_received"] = 3 * a.users * 64
        lg["client_rss_kib"] = {"baseline": rss, "plateau": rss + a.users // 100}
        lg["client_rss_bytes_per_stream"] = 10.5 * 1024
        lg["histograms"] = {"connect_ms": c_full, "delivery_ms": d_full}
    return lg


def run_json(a, service_cmd, users_var):
    if a.legacy:
        return {"test_count": a.users, "hold": "5s", "rate": 500,
                "publishes": 3, "streams_per_conn": 1,
                "notifier": "127.0.0.1:50051",
                "debug_url": "http://127.0.0.1:8086", "mode": "native"}
    return {"schema": 1, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                  time.gmtime()),
            "target": "127.0.0.1:50051", "call": "notifier.Notifier/Connect",
            "method_kind": "server_streaming", "proto": None,
            "test_count": a.users, "streams_per_conn": 1, "hold": "5s",
            "rate": 0, "rps": 0, "duration": "0s", "tls": False,
            "headers": [], "debug_url": "http://127.0.0.1:8086",
            "mode": "native", "service": service_cmd,
            "users_var": users_var, "shard_count": 1}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child()
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("run_dir")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--leak", type=int, default=None)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--thread-prefix", default="user-conn-")
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--no-loadgen", action="store_true")
    ap.add_argument("--fail-reason", default="",
                    help="loadgen.json says the goal was not met, and why")
    ap.add_argument("--no-run-json", action="store_true")
    ap.add_argument("--service", nargs=argparse.REMAINDER, default=None)
    ap.add_argument("--users-var", default=None)
    ap.add_argument("--timeline", action="store_true")
    ap.add_argument("--ramp-steps", type=int, default=4)
    ap.add_argument("--drain-steps", type=int, default=4)
    ap.add_argument("--hold-samples", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--torn", action="store_true")
    ap.add_argument("--vars-gap", action="store_true")
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--error", action="append", default=[])
    a = ap.parse_args()
    if a.leak is None:
        a.leak = 0 if a.service else 20
    users_var = a.users_var or ("svc.users" if a.service else "notifier.users")
    os.makedirs(a.run_dir, exist_ok=True)
    env = dict(os.environ)
    if a.service:
        cmd = [os.path.abspath(a.service[0])] + a.service[1:]
    else:
        cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--child"]
    proc = None
    for attempt in range(5):
        port = free_port()
        env.update(LD_PRELOAD=os.path.abspath(a.lib),
                   NPROF_LISTEN="127.0.0.1:%d" % port, NPROF_HEAP_RATE="1024")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
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
    run = Run(a, proc, base)
    try:
        run.go()
    except (RuntimeError, OSError) as e:
        print("mkrundir: %s" % e, file=sys.stderr)
        return 1
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not a.no_loadgen:
        write_atomic(os.path.join(a.run_dir, "loadgen.json"),
                     (json.dumps(loadgen_json(a, run.marks), indent=2)
                      + "\n").encode())
    if not a.no_run_json:
        write_atomic(os.path.join(a.run_dir, "run.json"),
                     (json.dumps(run_json(a, " ".join(cmd), users_var),
                                 indent=2) + "\n").encode())
    print(json.dumps({"run_dir": a.run_dir, "timeline_samples": run.samples,
                      "phases": run.marks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
