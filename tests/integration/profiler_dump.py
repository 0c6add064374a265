#!/usr/bin/python3
"""Heap profiles written on RSS thresholds (NPROF_DUMP_*), end to end: a
program that grows its heap on command, libnprof preloaded into it (with
and without NPROF_LISTEN). Files appear when RSS crosses each threshold and
not before, numbered in order, never more than NPROF_DUMP_MAX; the real
`go tool pprof` reads each and names the growing site; /debug/vars lists
them; bad settings are said in one line and change nothing else.

Run from the top folder after `make` (tests/run.sh does). Every wait has a
deadline; every process is killed at the end, also on failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "profiler"))
from testlib import BUILD, LIB, fetch, free_port, get, pprof  # noqa: E402

PROGRAM = f"{BUILD}/test/bin/heap_grow_program"
MIB = 1 << 20
SITE = "grow_heap_here"


class Grower:
    """heap_grow_program under the preload; killed on close."""

    def __init__(self, env_extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("NPROF_")}
        env.update(LD_PRELOAD=LIB, **env_extra)
        self.p = subprocess.Popen([PROGRAM], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"ready (\d+)", line)
        if not m:
            self.close()
            raise AssertionError(f"program did not start: {line!r}")
        self.pid = int(m[1])

    def command(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        m = re.match(r"rss (\d+)", line)
        if not m:
            raise AssertionError(f"{text}: {line!r}")
        return int(m[1])

    def grow_to(self, target):
        """Grows to at least `target` bytes of RSS; returns the RSS."""
        rss = self.command("rss")
        if rss < target:
            rss = self.command(f"grow {(target - rss + MIB - 1) // MIB}")
        return rss

    def finish(self):
        """Closes stdin; returns (exit code, stderr)."""
        self.p.stdin.close()
        self.p.wait(timeout=30)
        return self.p.returncode, self.p.stderr.read()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f and not f.closed:
                f.close()


class Dumps(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nprof-dump-")
        self.work = tempfile.mkdtemp(prefix="nprof-dump-work-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def start(self, **env):
        g = Grower(env)
        self.procs.append(g)
        return g

    def files(self):
        """The dumps written so far (a write in progress is a hidden
        temporary file until its rename)."""
        return sorted(f for f in os.listdir(self.dir) if not f.startswith("."))

    def wait_files(self, n, deadline_s=10):
        end = time.time() + deadline_s
        while time.time() < end:
            if len(self.files()) >= n:
                return self.files()
            time.sleep(0.05)
        raise AssertionError(f"want {n} files, have {self.files()}")

    def assert_reads_site(self, path):
        text = pprof("-top", "-sample_index=inuse_space", path)
        self.assertIn(SITE, text, text)
        return text

    def test_files_appear_at_each_threshold_and_stop_at_the_maximum(self):
        g = self.start(NPROF_DUMP_DIR=self.dir, NPROF_DUMP_MAX="3",
                       NPROF_DUMP_RSS="24M")
        # Below the size: nothing, however long it waits.
        g.grow_to(18 * MIB)
        time.sleep(0.5)
        self.assertEqual(self.files(), [])
        threshold = 24 * MIB
        for seq in (1, 2, 3):
            g.grow_to(threshold + 10 * MIB)
            name = f"heap.{g.pid}.{seq}.pb.gz"
            self.assertEqual(self.wait_files(seq)[-1], name)
            self.assert_reads_site(os.path.join(self.dir, name))
            # The next one is 50% past the RSS of this dump (read right
            # after writing it; the program is idle meanwhile).
            time.sleep(0.3)
            rss = g.command("rss")
            threshold = rss + rss // 2
            if seq < 3 and threshold - rss > 8 * MIB:
                g.grow_to(threshold - 6 * MIB)
                time.sleep(0.5)
                self.assertEqual(len(self.files()), seq, self.files())
        g.grow_to(threshold + 16 * MIB)  # past a fourth threshold
        time.sleep(0.8)
        # No more than the maximum, and no temporary file left behind.
        self.assertEqual(sorted(os.listdir(self.dir)),
                         [f"heap.{g.pid}.{s}.pb.gz" for s in (1, 2, 3)])
        code, err = g.finish()
        self.assertEqual((code, err), (0, ""))

    def test_vars_list_the_dumps_and_the_file_is_the_served_profile(self):
        port = free_port()
        g = self.start(NPROF_DUMP_DIR=self.dir, NPROF_DUMP_RSS="1",
                       NPROF_LISTEN=f"127.0.0.1:{port}")
        addr = f"127.0.0.1:{port}"
        g.command("grow 16")
        name = self.wait_files(1)[0]
        self.assertEqual(name, f"heap.{g.pid}.1.pb.gz")
        status, _, body = get(addr, "/debug/vars")
        self.assertEqual(status, 200)
        v = json.loads(body)["nprof"]
        self.assertEqual(v["dump_dir"], os.path.realpath(self.dir))
        self.assertEqual(v["dump_rss_bytes"], 1)
        self.assertEqual(v["dumps_written"], 1)
        self.assertEqual(v["dump_last_path"],
                         os.path.join(os.path.realpath(self.dir), name))
        self.assertEqual(v["dump_errors"], 0)
        self.assertGreater(v["dump_next_rss_bytes"], 16 * MIB)
        # The same profile /debug/pprof/heap serves (nothing allocated
        # since): the same in-use figure for the site.
        served_path, _ = fetch(addr, "/debug/pprof/heap",
                               os.path.join(self.work, "served.pb.gz"))

        def site_bytes(path):
            text = pprof("-top", "-unit=B", "-sample_index=inuse_space",
                         path)
            return [ln.split()[0] for ln in text.splitlines()
                    if ln.rstrip().endswith(SITE)]
        dumped = os.path.join(self.dir, name)
        self.assert_reads_site(dumped)
        self.assertEqual(site_bytes(dumped), site_bytes(served_path))

    def test_bad_settings_are_said_once_and_change_nothing(self):
        cases = [
            ({"NPROF_DUMP_DIR": self.dir, "NPROF_DUMP_RSS": "12X"},
             "NPROF_DUMP_RSS=12X is not a size"),
            ({"NPROF_DUMP_DIR": self.dir, "NPROF_DUMP_RSS": "0"},
             "NPROF_DUMP_RSS=0 is not a size"),
            ({"NPROF_DUMP_DIR": self.dir}, "need both"),
            ({"NPROF_DUMP_RSS": "1"}, "need both"),
            ({"NPROF_DUMP_DIR": self.dir, "NPROF_DUMP_RSS": "1",
              "NPROF_DUMP_MAX": "0"}, "NPROF_DUMP_MAX=0 is not a count"),
            ({"NPROF_DUMP_DIR": "/nonexistent/nprof", "NPROF_DUMP_RSS": "1"},
             "is not a writable folder"),
        ]
        for env, said in cases:
            with self.subTest(env=env):
                g = self.start(**env)
                g.command("grow 8")
                time.sleep(0.3)
                code, err = g.finish()
                self.assertEqual(code, 0)
                lines = err.strip().splitlines()
                self.assertEqual(len(lines), 1, err)
                self.assertIn(said, lines[0])
                self.assertIn("heap dumps off", lines[0])
                self.assertEqual(self.files(), [])


if __name__ == "__main__":
    for need in (LIB, PROGRAM):
        if not os.path.exists(need):
            sys.exit(f"build first: make {need}")
    unittest.main(verbosity=2)
