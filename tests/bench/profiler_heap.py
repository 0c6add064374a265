#!/usr/bin/python3
"""Heap profiler cost, side by side with plain glibc in the same run.

1. CPU: tests/bench/alloc_bench.c (2 threads, 16 B..64 KiB, mean ~3.1 KiB)
   plain glibc | libnprof preloaded at the default rate (512 KiB) |
   libnprof with sampling off (the interposer alone), in alternating
   rounds (the order rotates each round). The figure is the median over
   rounds of each round's ratio to that round's plain run, in CPU time
   (user + sys), not wall time: the machine is shared and noisy.
2. Instructions under callgrind (repeatable whatever the load): 2 x 300,000
   operations less a 1-operation run, so process start and library loading
   are left out.
3. realloc growth (tests/bench/realloc_bench.c): one buffer grown to 16 and
   to 64 MiB in 64 KiB steps, plain and preloaded in alternating pairs.
4. Large alignments (tests/bench/align_bench.c): 32 blocks of 2 MiB aligned
   to 2 MiB, every page written: VmSize and RSS growth, plain and
   preloaded (every such block is sampled at the default rate).
5. heaptrack and gperftools' heap profiler, where installed, on a smaller
   workload against plain at the same size.

  BENCH_PAIRS (rounds, default 15, at least 11), BENCH_OPS (operations per
  thread, default 8,000,000), LIBNPROF (the library, default
  $BUILD/lib/libnprof.so: another build can be measured the same way),
  BENCH_SECTIONS (comma-separated subset of cpu,instructions,realloc,align,
  others; default all)
Prints figures; exits 0 (a benchmark reports, it does not judge).
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
REALLOC = os.path.abspath(f"{BUILD}/bench/realloc_bench")
ALIGN = os.path.abspath(f"{BUILD}/bench/align_bench")
LIB = os.path.abspath(os.environ.get("LIBNPROF", f"{BUILD}/lib/libnprof.so"))
PAIRS = max(11, int(os.environ.get("BENCH_PAIRS", "15")))
OPS = int(os.environ.get("BENCH_OPS", "8000000"))
TMP = tempfile.mkdtemp(prefix="nprof-bench-")
PRELOAD = {"LD_PRELOAD": LIB}


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPROF_")}
    env.update(extra or {})
    return env


def run(argv, env_extra=None, prefix=()):
    out = subprocess.run([*prefix, *argv], env=clean_env(env_extra),
                         capture_output=True, text=True, timeout=1800,
                         cwd=TMP)
    if out.returncode != 0:
        raise SystemExit(f"{prefix} {argv} failed: {out.stderr}")
    return out.stdout


def alloc_run(env_extra=None, ops=OPS, prefix=()):
    """(wall, cpu, peak RSS KiB) of one alloc_bench run."""
    m = re.search(r"wall (\S+) cpu (\S+) maxrss_kb (\d+)",
                  run([BENCH, "--ops", str(ops)], env_extra, prefix))
    return float(m[1]), float(m[2]), int(m[3])


def callgrind_instructions(env_extra, ops):
    out_file = os.path.join(TMP, "cg.out")
    out = subprocess.run(["valgrind", "--tool=callgrind",
                          f"--callgrind-out-file={out_file}", BENCH, "--ops",
                          str(ops)], env=clean_env(env_extra),
                         capture_output=True, text=True, timeout=1800)
    m = re.search(r"Collected : (\d+)", out.stderr)
    return int(m[1]) if m else None


def steady_instructions(env_extra):
    full = callgrind_instructions(env_extra, 300000)
    fixed = callgrind_instructions(env_extra, 1)
    return full - fixed if full and fixed else None


def spread(values):
    return f"{min(values):.3f}..{max(values):.3f}"


def cpu_rounds():
    configs = {
        "plain glibc": {},
        "libnprof (512 KiB)": PRELOAD,
        "libnprof (rate 0)": dict(PRELOAD, NPROF_HEAP_RATE="0"),
    }
    names = list(configs)
    runs = {name: [] for name in names}
    ratios = {name: [] for name in names[1:]}
    print(f"alloc_bench: 2 threads x {OPS:,} ops, {PAIRS} alternating rounds"
          f" (order rotates), CPU = user + sys")
    for r in range(PAIRS):
        order = names[r % len(names):] + names[:r % len(names)]
        got = {name: alloc_run(configs[name]) for name in order}
        for name in names:
            runs[name].append(got[name])
        for name in names[1:]:
            ratios[name].append(got[name][1] / got["plain glibc"][1])
    print(f"{'':22} {'cpu s':>8} {'wall s':>8} {'peak RSS':>10}"
          f" {'cpu x (median of rounds)':>26} {'range':>13}")
    for name in names:
        cpu = statistics.median(c for _, c, _ in runs[name])
        wall = statistics.median(w for w, _, _ in runs[name])
        rss = max(m for _, _, m in runs[name])
        line = f"{name:22} {cpu:8.3f} {wall:8.3f} {rss / 1024:8.1f}MB"
        if name in ratios:
            line += (f" {statistics.median(ratios[name]):26.4f}"
                     f" {spread(ratios[name]):>13}")
        print(line)


def instructions():
    if not shutil.which("valgrind"):
        print("instructions: valgrind not installed")
        return
    plain = steady_instructions({})
    if not plain:
        print("instructions: callgrind failed")
        return
    print("instructions (callgrind, 2 x 300,000 ops, start-up excluded):"
          f" plain {plain:,}")
    for name, env in (("libnprof (512 KiB)", PRELOAD),
                      ("libnprof (rate 0)",
                       dict(PRELOAD, NPROF_HEAP_RATE="0"))):
        n = steady_instructions(env)
        if n:
            print(f"  {name:20} {n:,}: x{n / plain:.4f}"
                  f" ({(n - plain) / 600000:.1f} per operation)")


def realloc_growth():
    print(f"realloc growth in 64 KiB steps, {PAIRS} alternating pairs,"
          " CPU seconds per run (median)")
    for mib, rounds in ((16, 100), (64, 20)):
        argv = [REALLOC, "--mib", str(mib), "--rounds", str(rounds)]
        plain, prof, ratios = [], [], []
        for r in range(PAIRS):
            pair = {}
            for env in (({}, PRELOAD) if r % 2 == 0 else (PRELOAD, {})):
                m = re.search(r"cpu (\S+)", run(argv, env))
                pair[bool(env)] = float(m[1])
            plain.append(pair[False])
            prof.append(pair[True])
            ratios.append(pair[True] / max(pair[False], 1e-6))
        p, q = statistics.median(plain), statistics.median(prof)
        print(f"  to {mib:2} MiB x {rounds:2}: plain {p:.4f}s, libnprof "
              f"{q:.4f}s, x{statistics.median(ratios):.3f} (median of "
              f"pairs, range {spread(ratios)})")


def large_alignments():
    print("32 blocks of 2 MiB aligned to 2 MiB, every page written "
          "(growth over the allocations):")
    rows = {}
    for name, env in (("plain glibc", {}), ("libnprof (512 KiB)", PRELOAD)):
        m = re.search(r"vm_kib (\d+) rss_kib (\d+)", run([ALIGN], env))
        rows[name] = (int(m[1]), int(m[2]))
    base = rows["plain glibc"]
    for name, (vm, rss) in rows.items():
        print(f"  {name:20} VmSize +{vm / 1024:7.1f} MiB (x{vm / base[0]:.3f})"
              f"  RSS +{rss / 1024:6.1f} MiB (x{rss / base[1]:.3f})")


def others():
    # The others record every allocation: a smaller workload.
    small = 200000
    plain_small = statistics.median(alloc_run({}, small)[1] for _ in range(3))
    rows = []
    if shutil.which("heaptrack"):
        rows.append(("heaptrack", {}, ("heaptrack", "-o",
                                       os.path.join(TMP, "ht"))))
    tcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
    if os.path.exists(tcmalloc):
        rows.append(("tcmalloc alone", {"LD_PRELOAD": tcmalloc}, ()))
        rows.append(("gperftools heap prof", {
            "LD_PRELOAD": tcmalloc,
            "HEAPPROFILE": os.path.join(TMP, "gp")}, ()))
    rows.append(("libnprof (512 KiB)", PRELOAD, ()))
    print(f"smaller workload: 2 x {small:,} ops; plain cpu {plain_small:.3f}s")
    for name, env, prefix in rows:
        try:
            cpu = alloc_run(env, small, prefix)[1]
        except (SystemExit, subprocess.TimeoutExpired) as e:
            print(f"{name:22} failed: {e}")
            continue
        print(f"{name:22} cpu {cpu:8.3f}s  x{cpu / plain_small:.2f}")


SECTIONS = {"cpu": cpu_rounds, "instructions": instructions,
            "realloc": realloc_growth, "align": large_alignments,
            "others": others}


def main():
    wanted = os.environ.get("BENCH_SECTIONS", ",".join(SECTIONS)).split(",")
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        sys.exit(f"BENCH_SECTIONS: unknown {unknown}; known {list(SECTIONS)}")
    print(f"library: {LIB}")
    for name in wanted:
        SECTIONS[name]()
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    for need in (BENCH, REALLOC, ALIGN, LIB):
        if not os.path.exists(need):
            sys.exit(f"build first: make {need}")
    main()
