#!/usr/bin/python3
"""Heap profiler overhead, side by side in one run.

Runs tests/bench/alloc_bench.c (2 threads, 16 B..64 KiB, mean ~3 KiB):
  plain glibc | libnprof preloaded at the default rate (512 KiB) |
  libnprof with sampling off (the interposer alone)
in alternating rounds (the machine is shared and noisy: medians of rounds),
then counts instructions under callgrind (repeatable whatever the load), and
runs heaptrack and gperftools' heap profiler, where installed, on a smaller
workload against plain at the same size.

  BENCH_ROUNDS (default 9), BENCH_OPS (ops per thread, default 8,000,000)
Prints ratios; exits 0 (a benchmark reports, it does not judge).
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

BUILD = os.environ.get("BUILD", "build")
BENCH = os.path.abspath(f"{BUILD}/bench/alloc_bench")
LIB = os.path.abspath(f"{BUILD}/lib/libnprof.so")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
OPS = int(os.environ.get("BENCH_OPS", "8000000"))
TMP = tempfile.mkdtemp(prefix="nprof-bench-")


def run(env_extra=None, ops=OPS, prefix=()):
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run([*prefix, BENCH, "--ops", str(ops)], env=env,
                         capture_output=True, text=True, timeout=1800,
                         cwd=TMP)
    if out.returncode != 0:
        raise SystemExit(f"{prefix} {BENCH} failed: {out.stderr}")
    m = re.search(r"wall (\S+) cpu (\S+) maxrss_kb (\d+)", out.stdout)
    return float(m[1]), float(m[2]), int(m[3])


def callgrind_instructions(env_extra, ops):
    env = dict(os.environ, **(env_extra or {}))
    out_file = os.path.join(TMP, "cg.out")
    out = subprocess.run(["valgrind", "--tool=callgrind",
                          f"--callgrind-out-file={out_file}", BENCH, "--ops",
                          str(ops)], env=env, capture_output=True, text=True,
                         timeout=1800)
    m = re.search(r"Collected : (\d+)", out.stderr)
    return int(m[1]) if m else None


def steady_instructions(env_extra):
    """Instructions of 2 x 300,000 ops less those of a 1-op run (process
    start, library loading), so only the per-operation cost is compared."""
    full = callgrind_instructions(env_extra, 300000)
    fixed = callgrind_instructions(env_extra, 1)
    return full - fixed if full and fixed else None


def main():
    configs = {
        "plain glibc": {},
        "libnprof (512 KiB)": {"LD_PRELOAD": LIB},
        "libnprof (rate 0)": {"LD_PRELOAD": LIB, "NPROF_HEAP_RATE": "0"},
    }
    results = {name: [] for name in configs}
    names = list(configs)
    print(f"alloc_bench: 2 threads x {OPS:,} ops, {ROUNDS} alternating rounds")
    for r in range(ROUNDS):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            results[name].append(run(configs[name]))
    base_wall = statistics.median(w for w, _, _ in results["plain glibc"])
    base_cpu = statistics.median(c for _, c, _ in results["plain glibc"])
    print(f"{'':22} {'wall s':>8} {'cpu s':>8} {'wall x':>8} {'cpu x':>8}"
          f" {'peak RSS':>10}")
    for name in names:
        wall = statistics.median(w for w, _, _ in results[name])
        cpu = statistics.median(c for _, c, _ in results[name])
        rss = max(m for _, _, m in results[name])
        print(f"{name:22} {wall:8.3f} {cpu:8.3f} {wall / base_wall:8.3f}"
              f" {cpu / base_cpu:8.3f} {rss / 1024:8.1f}MB")

    if shutil.which("valgrind"):
        plain = steady_instructions({})
        prof = steady_instructions({"LD_PRELOAD": LIB})
        if plain and prof:
            print(f"instructions (callgrind, 2 x 300,000 ops, start-up "
                  f"excluded): plain {plain:,}, libnprof {prof:,}: "
                  f"x{prof / plain:.4f}")

    # The others record every allocation: a smaller workload.
    small = 200000
    plain_small = statistics.median(run({}, small)[1] for _ in range(3))
    others = []
    if shutil.which("heaptrack"):
        others.append(("heaptrack", {}, ("heaptrack", "-o",
                                         os.path.join(TMP, "ht"))))
    tcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
    if os.path.exists(tcmalloc):
        others.append(("tcmalloc alone", {"LD_PRELOAD": tcmalloc}, ()))
        others.append(("gperftools heap prof", {
            "LD_PRELOAD": tcmalloc,
            "HEAPPROFILE": os.path.join(TMP, "gp")}, ()))
    others.append(("libnprof (512 KiB)", {"LD_PRELOAD": LIB}, ()))
    print(f"smaller workload: 2 x {small:,} ops; plain cpu {plain_small:.3f}s")
    for name, env, prefix in others:
        try:
            cpu = run(env, small, prefix)[1]
        except (SystemExit, subprocess.TimeoutExpired) as e:
            print(f"{name:22} failed: {e}")
            continue
        print(f"{name:22} cpu {cpu:8.3f}s  x{cpu / plain_small:.2f}")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    if not os.path.exists(BENCH) or not os.path.exists(LIB):
        sys.exit(f"build first: make {BENCH} {LIB}")
    main()
