#!/usr/bin/python3
"""CPU profiler overhead at 100 Hz, and uncontended mutex cost with
contention profiling on and off, side by side in one run.

CPU: tests/bench/cpu_bench.c (2 threads hashing, CPU-bound) in alternating
rounds under
  plain | libnprof preloaded, idle | libnprof sampling at 100 Hz (a
  /debug/pprof/profile request running over the whole run) | gperftools'
  CPU profiler at 100 Hz (CPUPROFILE, where libprofiler is installed)
The profiled runs start work only once /debug/vars says the profiler
samples. Medians of the process's CPU seconds (user + system) and of wall
seconds; the machine is shared and noisy, so compare the ratios, not the
seconds.

Mutex: tests/bench/mutex_bench.c (one thread, lock + unlock of a private
mutex through the PLT) under plain | libnprof with contention profiling off
(the default) | libnprof with NPROF_MUTEX_RATE=1 NPROF_BLOCK_RATE=1:
medians of ns per lock + unlock pair.

  BENCH_ROUNDS (default 7), BENCH_CPU_ROUNDS (cpu_bench rounds per thread,
  default 12000), BENCH_MUTEX_OPS (default 20,000,000)
Prints figures and ratios; exits 0 (a benchmark reports, it does not judge).
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BUILD = os.environ.get("BUILD", "build")
CPU_BENCH = os.path.abspath(f"{BUILD}/bench/cpu_bench")
MUTEX_BENCH = os.path.abspath(f"{BUILD}/bench/mutex_bench")
LIB = os.path.abspath(f"{BUILD}/lib/libnprof.so")
GPERF = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
CPU_ROUNDS = int(os.environ.get("BENCH_CPU_ROUNDS", "12000"))
MUTEX_OPS = int(os.environ.get("BENCH_MUTEX_OPS", "20000000"))
TMP = tempfile.mkdtemp(prefix="nprof-cpu-bench-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def parse(out):
    m = re.search(r"wall (\S+) cpu (\S+)", out)
    if not m:
        raise SystemExit(f"cpu_bench said: {out!r}")
    return float(m[1]), float(m[2])


def run_cpu(config):
    """One cpu_bench run; returns (wall, cpu)."""
    argv = [CPU_BENCH, "--rounds", str(CPU_ROUNDS), "--wait-go"]
    env = dict(os.environ)
    port = None
    if config in ("libnprof idle", "libnprof 100 Hz"):
        port = free_port()
        env.update(LD_PRELOAD=LIB, NPROF_LISTEN=f"127.0.0.1:{port}",
                   NPROF_CPU_HZ="100")
    elif config == "gperftools 100 Hz":
        env.update(LD_PRELOAD=GPERF, CPUPROFILE=os.path.join(TMP, "gp.prof"),
                   CPUPROFILE_FREQUENCY="100")
    p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=TMP)
    try:
        if port:
            base = f"http://127.0.0.1:{port}"
            end = time.time() + 20
            while time.time() < end:
                try:
                    http_get(f"{base}/debug/pprof/", 2)
                    break
                except OSError:
                    time.sleep(0.02)
            if config == "libnprof 100 Hz":
                # The request outlives the run; the process exit ends it.
                threading.Thread(
                    target=lambda: _ignore(http_get,
                                           f"{base}/debug/pprof/profile"
                                           "?seconds=600", 700),
                    daemon=True).start()
                while time.time() < end:
                    v = json.loads(http_get(f"{base}/debug/vars", 5))
                    if v["nprof"]["cpu_profiling"]:
                        break
                    time.sleep(0.01)
                else:
                    raise SystemExit("the CPU profile did not start")
        out, err = p.communicate("go\n", timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"{config}: cpu_bench failed: {err}")
        return parse(out)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _ignore(fn, *args):
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the process exits under the request
        pass


def run_mutex(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([MUTEX_BENCH, "--ops", str(MUTEX_OPS)], env=env,
                         capture_output=True, text=True, timeout=600)
    m = re.search(r"ns_per_op (\S+)", out.stdout)
    if out.returncode != 0 or not m:
        raise SystemExit(f"mutex_bench failed: {out.stderr}")
    return float(m[1])


def alternate(names, fn):
    results = {n: [] for n in names}
    for r in range(ROUNDS):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            results[n].append(fn(n))
    return results


def main():
    names = ["plain", "libnprof idle", "libnprof 100 Hz"]
    if os.path.exists(GPERF):
        names.append("gperftools 100 Hz")
    print(f"cpu_bench: 2 threads x {CPU_ROUNDS:,} rounds, {ROUNDS} "
          f"alternating rounds, medians")
    res = alternate(names, run_cpu)
    base_wall = statistics.median(w for w, _ in res["plain"])
    base_cpu = statistics.median(c for _, c in res["plain"])
    print(f"{'':20} {'wall s':>8} {'cpu s':>8} {'wall x':>8} {'cpu x':>8}")
    for n in names:
        wall = statistics.median(w for w, _ in res[n])
        cpu = statistics.median(c for _, c in res[n])
        print(f"{n:20} {wall:8.3f} {cpu:8.3f} {wall / base_wall:8.4f} "
              f"{cpu / base_cpu:8.4f}")
    # Paired ratios: each round's profiled run against that round's plain
    # run, which cancels slow drifts in the machine's load.
    for n in names[1:]:
        pairs = [c / p for (_, c), (_, p) in zip(res[n], res["plain"])]
        print(f"{n:20} paired cpu ratio, median {statistics.median(pairs):.4f}"
              f" (rounds: {' '.join(f'{x:.3f}' for x in pairs)})")

    mnames = {"plain": {},
              "libnprof, contention off": {"LD_PRELOAD": LIB},
              "libnprof, mutex+block rate 1": {"LD_PRELOAD": LIB,
                                               "NPROF_MUTEX_RATE": "1",
                                               "NPROF_BLOCK_RATE": "1"}}
    print(f"\nmutex_bench: {MUTEX_OPS:,} uncontended lock+unlock pairs, "
          f"{ROUNDS} alternating rounds, medians")
    mres = alternate(list(mnames), lambda n: run_mutex(mnames[n]))
    base = statistics.median(mres["plain"])
    for n in mnames:
        ns = statistics.median(mres[n])
        print(f"{n:30} {ns:7.2f} ns/op  {ns - base:+6.2f} ns  x{ns / base:.3f}")


if __name__ == "__main__":
    for f in (CPU_BENCH, MUTEX_BENCH, LIB):
        if not os.path.exists(f):
            sys.exit(f"build first: make {f}")
    try:
        main()
    finally:
        subprocess.run(["rm", "-rf", TMP])
