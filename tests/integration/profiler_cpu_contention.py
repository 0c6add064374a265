#!/usr/bin/python3
"""libnprof's CPU, threadcreate, mutex, block and trace endpoints, end to
end: tests/profiler/workload_program.c behaves in known ways, the real
`go tool pprof -symbolize=none` and `nprof top` read what the endpoints
serve, and the numbers match the behaviour:
  - two threads burning CPU 70/30 are measured within 5 points;
  - a held mutex with waiters shows the waiters' stacks and a delay that
    fits the wall time; a condition wait shows in block;
  - threads created from a known function show in threadcreate, and
    threads that exited do not;
  - the trace is JSON that names the threads;
  - a second CPU profile, bad seconds, and an application's own SIGPROF
    handler get Go's errors; the process survives and SIGPROF is restored.

Run from the top folder after `make` (tests/run.sh does). Servers listen on
ports the OS picked, every wait has a deadline, every process is killed.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "profiler"))
from testlib import (BUILD, LIB, Program, fetch, get, pprof,  # noqa: E402
                     pprof_top)

WORKLOAD = f"{BUILD}/test/bin/workload_program"
NPROF = f"{BUILD}/bin/nprof"
TMP = tempfile.mkdtemp(prefix="nprof-cpu-it-")
SIGPROF = 27


def pprof_cum(path, sample_index, unit):
    """{function: cum} from `pprof -top` in `unit` (ms, count)."""
    values, text = pprof_top(path, sample_index, unit)
    return {fn: cum for fn, (_, cum) in values.items()}, text


def nprof_top(path):
    out = subprocess.run([NPROF, "top", path], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"nprof top {path} failed: {out.stderr}")
    return out.stdout


def thread_cpu_ticks(pid):
    """{thread name: utime + stime in clock ticks} from /proc."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    return ticks


def sig_bits(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return 0


class Workload(Program):
    """workload_program in one mode; killed on close."""

    def __init__(self, mode, env=None):
        super().__init__([WORKLOAD, mode], env=env)

    def fetch(self, path, name, timeout=60):
        return fetch(self.addr, path, os.path.join(TMP, name), timeout)


class Cpu(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.w = Workload("cpu")

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def test_a_seventy_thirty_split(self):
        before = thread_cpu_ticks(self.w.p.pid)
        path, headers = self.w.fetch("/debug/pprof/profile?seconds=4",
                                     "cpu.pb.gz")
        after = thread_cpu_ticks(self.w.p.pid)
        used = {n: after[n] - before.get(n, 0) for n in ("burn70", "burn30")}
        truth = used["burn70"] / (used["burn70"] + used["burn30"])
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertIn('filename="profile"', headers["Content-Disposition"])
        cum, text = pprof_cum(path, "cpu", "ms")
        self.assertIn("Type: cpu", text)
        self.assertRegex(text, r"Duration: 4(\.\d+)?s")
        a, b = cum["burn_seventy"], cum["burn_thirty"]
        share = a / (a + b)
        print(f"\n# CPU 70/30: burn_seventy {a:.0f} ms, burn_thirty {b:.0f} "
              f"ms, share {share:.3f}; the kernel's count: {truth:.3f}",
              file=sys.stderr)
        self.assertGreater(a + b, 400, text)
        self.assertAlmostEqual(share, 0.70, delta=0.05)
        self.assertAlmostEqual(share, truth, delta=0.03)
        raw = pprof("-raw", path)
        self.assertIn("samples/count cpu/nanoseconds", raw)
        self.assertIn("Period: 10000000", raw)
        # Threads are labelled with their names.
        self.assertRegex(raw, r"thread:\[burn70\]")
        # The project's own decoder reads it too.
        self.assertIn("burn_seventy", nprof_top(path))

    def test_b_second_profile_and_bad_seconds(self):
        results = {}

        def first():
            results["first"] = get(self.w.addr,
                                   "/debug/pprof/profile?seconds=2")
        t = threading.Thread(target=first)
        t.start()
        # The first request holds the profiler once /debug/vars says so.
        end = time.time() + 20
        while time.time() < end:
            v = json.loads(get(self.w.addr, "/debug/vars")[2])
            if v["nprof"]["cpu_profiling"]:
                break
            time.sleep(0.02)
        status, headers, body = get(self.w.addr,
                                    "/debug/pprof/profile?seconds=1")
        self.assertEqual((status, body), (500, b"Could not enable CPU "
                                          b"profiling: cpu profiling already "
                                          b"in use\n"))
        self.assertEqual(headers["X-Go-Pprof"], "1")
        t.join(timeout=60)
        self.assertEqual(results["first"][0], 200)
        for path, text in (
                ("profile?seconds=abc", b'invalid value for "seconds" - '
                 b"must be a positive integer\n"),
                ("profile?seconds=99999", b"profile duration exceeds "
                 b"server's WriteTimeout\n")):
            status, _, body = get(self.w.addr, "/debug/pprof/" + path)
            self.assertEqual((status, body), (400, text), path)

    def test_c_sigprof_restored_and_process_alive(self):
        self.w.fetch("/debug/pprof/profile?seconds=1", "cpu2.pb.gz")
        time.sleep(0.2)  # any late SIGPROF would have arrived by now
        self.assertTrue(self.w.alive())
        pid = self.w.p.pid
        self.assertFalse(sig_bits(pid, "SigCgt") & (1 << (SIGPROF - 1)))
        self.assertFalse(sig_bits(pid, "SigIgn") & (1 << (SIGPROF - 1)))

    def test_d_trace_has_cpu_samples_on_named_threads(self):
        path, headers = self.w.fetch("/debug/pprof/trace?seconds=1",
                                     "cpu-trace.json")
        self.assertEqual(headers["Content-Type"], "application/json")
        with open(path) as f:
            trace = json.load(f)
        names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        cpu = [e for e in trace["traceEvents"] if e.get("cat") == "cpu"]
        self.assertTrue(cpu)
        by_thread = {}
        for e in cpu:
            by_thread.setdefault(names[e["tid"]].split()[0], []).append(e)
        self.assertIn("burn70", by_thread)
        self.assertIn("burn30", by_thread)
        self.assertTrue(all("burn_seventy" in e["args"]["stack"]
                            for e in by_thread["burn70"]))
        self.assertLess(len(by_thread["burn30"]), len(by_thread["burn70"]))


class Locks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.w = Workload("locks")

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def traces(self, path):
        """(value, frames) for each sample of `pprof -traces`."""
        out = []
        for block in pprof("-traces", path).split("-----------+")[1:]:
            value, frames = None, []
            for line in block.splitlines()[1:]:
                m = re.match(r"\s+(\S+)\s+(\S+)$", line)
                if value is None and m:
                    value, frames = m.group(1), [m.group(2)]
                elif line.strip():
                    frames.append(line.strip())
            out.append((value, frames))
        return out

    def test_mutex_shows_waiters_and_delay(self):
        start = time.time()
        path, headers = self.w.fetch("/debug/pprof/mutex?seconds=2",
                                     "mutex.pb.gz")
        wall = time.time() - start
        self.assertIn('filename="mutex-delta"', headers["Content-Disposition"])
        delay, text = pprof_cum(path, "delay", "ms")
        count, _ = pprof_cum(path, "contentions", "count")
        self.assertIn("Type: delay", text)
        # Two waiters queue for a mutex held 20 ms of every 22: each waits
        # most of the time, never more than the wall time.
        got = delay["wait_for_lock"] / 1000
        print(f"\n# mutex: wait_for_lock {got:.2f} s of delay over "
              f"{wall:.2f} s, {count['wait_for_lock']:.0f} contentions",
              file=sys.stderr)
        self.assertGreater(got, 0.5)
        self.assertLess(got, 2 * wall * 1.05)
        self.assertGreater(count["wait_for_lock"], 20)
        self.assertIn("read_rwlock", delay)
        self.assertNotIn("hold_lock", delay)
        for value, frames in self.traces(path):
            if "wait_for_lock" in frames:
                self.assertEqual(frames[0], "pthread_mutex_lock")
        self.assertIn("wait_for_lock", nprof_top(path))

    def test_block_has_cond_waits(self):
        path, _ = self.w.fetch("/debug/pprof/block?seconds=1", "block.pb.gz")
        delay, text = pprof_cum(path, "delay", "ms")
        for fn in ("wait_on_cond", "wait_for_lock", "read_rwlock"):
            self.assertIn(fn, delay, text)
        status, _, body = get(self.w.addr, "/debug/pprof/block?debug=1")
        self.assertTrue(body.startswith(b"--- contention:\ncycles/second="
                                        b"1000000000\n"))
        self.assertIn(b"\twait_on_cond+0x", body)

    def test_threadcreate(self):
        path, _ = self.w.fetch("/debug/pprof/threadcreate",
                               "threadcreate.pb.gz")
        counts = {}
        for value, frames in self.traces(path):
            for fn in ("spawn_workers", "spawn_and_join"):
                if fn in frames:
                    counts[fn] = counts.get(fn, 0) + int(value)
        self.assertEqual(counts, {"spawn_workers": 3})
        self.assertIn("Type: threadcreate", pprof("-top", path))
        status, _, body = get(self.w.addr, "/debug/pprof/threadcreate?debug=1")
        self.assertTrue(body.startswith(b"threadcreate profile: total "))
        self.assertIn(b"\n3 @ 0x", body)
        self.assertIn("spawn_workers", nprof_top(path))

    def test_trace_names_threads_and_shows_waits(self):
        path, _ = self.w.fetch("/debug/pprof/trace?seconds=1", "trace.json")
        with open(path) as f:
            trace = json.load(f)
        events = trace["traceEvents"]
        names = {e["tid"]: e["args"]["name"] for e in events
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        waits = [e for e in events if e.get("cat") == "contention"]
        kinds = {(names[e["tid"]].split()[0], e["name"]) for e in waits}
        self.assertIn(("waiter", "mutex wait"), kinds)
        self.assertIn(("reader", "rwlock wait"), kinds)
        self.assertIn(("condwaiter", "cond wait"), kinds)
        for e in waits:
            self.assertGreaterEqual(e["dur"], 10)
            self.assertLessEqual(e["ts"] + e["dur"], 1.5e6)
        mutex = [e for e in waits if e["name"] == "mutex wait"]
        self.assertIn("wait_for_lock", mutex[0]["args"]["stack"])
        self.assertTrue(any(re.match(r"process_name", e["name"])
                            for e in events if e["ph"] == "M"))

    def test_index_lists_the_new_profiles(self):
        _, _, body = get(self.w.addr, "/debug/pprof/")
        text = body.decode()
        for name in ("block", "mutex", "threadcreate"):
            self.assertIn(f"<a href='{name}?debug=1'>{name}</a>", text)
        self.assertIn("<a href='profile?seconds=30'>profile</a>", text)
        self.assertIn("<a href='trace?seconds=1'>trace</a>", text)
        self.assertIn("Chrome Trace Event JSON", text)
        self.assertIn("Perfetto", text)


class ApplicationSigprof(unittest.TestCase):
    def test_refused_and_left_alone(self):
        w = Workload("sigprof")
        try:
            status, headers, body = get(w.addr,
                                        "/debug/pprof/profile?seconds=1")
            self.assertEqual(status, 500)
            self.assertEqual(headers["X-Go-Pprof"], "1")
            self.assertTrue(body.startswith(
                b"Could not enable CPU profiling: the application installed "
                b"its own SIGPROF handler"), body)
            time.sleep(0.1)  # the watcher publishes every 20 ms
            v = json.loads(get(w.addr, "/debug/vars")[2])
            self.assertEqual(v["sigprof.intact"], 1)
            self.assertTrue(w.alive())
        finally:
            w.close()


class Preload(unittest.TestCase):
    def test_python_cpu_profile(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        code = ("import sys, threading\n"
                "def spin():\n    x = 0\n    while True: x += 1\n"
                "threading.Thread(target=spin, daemon=True).start()\n"
                "print('ready', flush=True)\nsys.stdin.read()\n")
        env = dict(os.environ, LD_PRELOAD=LIB,
                   NPROF_LISTEN=f"127.0.0.1:{port}")
        p = subprocess.Popen(["/usr/bin/python3", "-c", code], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            path, _ = fetch(f"127.0.0.1:{port}",
                            "/debug/pprof/profile?seconds=2",
                            os.path.join(TMP, "python-cpu.pb.gz"))
            cum, text = pprof_cum(path, "cpu", "ms")
            total = float(re.search(r"Total samples = ([\d.]+)(m?s)",
                                    text)[1])
            self.assertGreater(total, 500 if "ms" in text else 0.5, text)
            self.assertTrue(any("PyEval" in fn for fn in cum), text[:2000])
            self.assertIsNone(p.poll())
        finally:
            p.kill()
            p.wait(timeout=10)
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()


if __name__ == "__main__":
    if not shutil.which("go"):
        sys.exit("go is missing: run `make deps`")
    try:
        result = unittest.main(exit=False, verbosity=2).result
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(0 if result.wasSuccessful() else 1)
