#!/usr/bin/python3
"""libnprof end to end: a program with known allocation sites and threads
serves /debug/pprof over HTTP; the real `go tool pprof` reads what it serves;
bad requests are answered without harm to the host; the LD_PRELOAD path works
on programs the project did not build.

Run from the top folder after `make` (tests/run.sh does). Every server this
starts listens on a port the OS picked, every wait has a deadline, and every
process is killed at the end.
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
from testlib import (BUILD, GO_ENV, LIB, Program, fetch,  # noqa: E402
                     free_port, get, pprof, pprof_top)

KNOWN = f"{BUILD}/test/bin/known_program"
HOST = f"{BUILD}/test/bin/host_program"
TEST_LIB = f"{BUILD}/test/lib"
TMP = tempfile.mkdtemp(prefix="nprof-it-")


def pprof_values(path, sample_index):
    """{function: (flat, cum)} in bytes or counts from `pprof -top`."""
    return pprof_top(path, sample_index,
                     "B" if "space" in sample_index else "count")[0]


def heap_leaves(text):
    """The leaf function of each record of a heap profile's debug=1 text."""
    return re.findall(r"\] @ 0x[0-9a-f]+.*\n#\t0x[0-9a-f]+\t([^+]+)\+", text)


def pprof_traces(path):
    """The samples of `pprof -traces` as (count/value text, labels, frames)."""
    traces = []
    for block in pprof("-traces", path).split("-----------+")[1:]:
        labels, frames, value = {}, [], None
        for line in block.splitlines()[1:]:
            m = re.match(r"\s+(\w+):\s+(.*)$", line)
            if m and not frames and value is None:
                labels.setdefault(m.group(1), []).extend(m.group(2).split())
                continue
            m = re.match(r"\s+(\S+)\s+(\S+)$", line)
            if value is None and m:
                value, frames = m.group(1), [m.group(2)]
            elif line.strip():
                frames.append(line.strip())
        traces.append((value, labels, frames))
    return traces


class Process(Program):
    """A program under test; killed on close, output kept for messages."""

    def __init__(self, argv, env=None, stdin=subprocess.PIPE):
        super().__init__(argv, env=env, stdin=stdin, listening=False)

    def read_until(self, prefix, deadline_s=30):
        lines, end = [], time.time() + deadline_s
        while time.time() < end:
            line = self.p.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return lines
        raise AssertionError(f"no '{prefix}' line; got {lines}; stderr: "
                             f"{self.p.stderr.read() if self.p.poll() is not None else ''}")


def wait_http(addr, deadline_s=20):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            status, _, _ = get(addr, "/debug/pprof/", timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no HTTP server on {addr} after {deadline_s}s")


class KnownProgram(unittest.TestCase):
    """known_program linked with libnprof, heap sampled at 4 KiB so the
    estimates are tight (about 2,500 samples for the smallest site)."""

    rate = 4096
    tolerance = 0.10

    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, NPROF_HEAP_RATE=str(cls.rate))
        cls.proc = Process([KNOWN], env=env)
        lines = cls.proc.read_until("listening on ")
        cls.addr = lines[-1].split()[-1]
        cls.truth = {}
        for line in lines:
            if line.startswith("truth "):
                _, name, count, size = line.split()
                cls.truth[name] = (int(count), int(size))
        cls.dir = tempfile.mkdtemp(dir=TMP)

    @classmethod
    def tearDownClass(cls):
        cls.proc.close()

    def fetch(self, path, name):
        return fetch(self.addr, path, os.path.join(self.dir, name))

    def assertNear(self, got, want, tol, what):
        self.assertTrue(abs(got - want) <= tol * want,
                        f"{what}: {got} not within {tol:.0%} of {want}")

    def test_heap_estimates_match_the_truth(self):
        path, headers = self.fetch("/debug/pprof/heap", "heap.pb.gz")
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertIn('filename="heap"', headers["Content-Disposition"])
        inuse = pprof_values(path, "inuse_space")
        alloc = pprof_values(path, "alloc_space")
        for site in ("small_blocks", "big_blocks", "in_qsort_callback"):
            self.assertIn(site, inuse, f"{site} missing from {inuse}")
            self.assertNear(inuse[site][0], self.truth[site][1],
                            self.tolerance, f"{site} inuse_space")
        objects = pprof_values(path, "inuse_objects")
        self.assertNear(objects["small_blocks"][0],
                        self.truth["small_blocks"][0], self.tolerance,
                        "small_blocks inuse_objects")
        # Freed: allocated but not in use.
        self.assertNear(alloc["transient"][0], self.truth["transient"][1],
                        self.tolerance, "transient alloc_space")
        self.assertNotIn("transient", inuse)

    def test_allocs_defaults_to_alloc_space(self):
        path, _ = self.fetch("/debug/pprof/allocs", "allocs.pb.gz")
        self.assertIn("Type: alloc_space", pprof("-top", path))
        path, _ = self.fetch("/debug/pprof/heap", "heap2.pb.gz")
        self.assertIn("Type: inuse_space", pprof("-top", path))

    def test_stacks_pass_through_a_libc_callback(self):
        path, _ = self.fetch("/debug/pprof/heap", "heap3.pb.gz")
        traces = [t for t in pprof_traces(path)
                  if t[2] and t[2][0] == "in_qsort_callback"]
        self.assertTrue(traces, "no sample in in_qsort_callback")
        frames = traces[0][2]
        # glibc's qsort (built without frame pointers) sits between the
        # comparator and its caller; the unwinder must walk through it.
        for fn in ("compare_and_allocate", "sort_with_allocating_callback",
                   "main"):
            self.assertIn(fn, frames)
        self.assertTrue(any("sort" in f and f not in (
            "sort_with_allocating_callback",) for f in frames[1:-1]),
            f"no libc sort frame in {frames}")

    def test_threads_in_known_functions_are_counted(self):
        path, _ = self.fetch("/debug/pprof/goroutine", "goroutine.pb.gz")
        counts = {}
        for value, labels, frames in pprof_traces(path):
            for fn in ("park_reader", "park_sleeper"):
                if fn in frames:
                    counts[fn] = counts.get(fn, 0) + int(value)
                    self.assertEqual(len(labels["tid"]), int(value))
                    self.assertIn("reader" if fn == "park_reader"
                                  else "sleeper", labels["thread"])
        self.assertEqual(counts, {"park_reader": 3, "park_sleeper": 2})

    def test_goroutine_texts(self):
        status, _, body = get(self.addr, "/debug/pprof/goroutine?debug=1")
        text = body.decode()
        self.assertEqual(status, 200)
        self.assertTrue(text.startswith("goroutine profile: total "))
        self.assertRegex(text, r"\n3 @ 0x[0-9a-f]+")
        self.assertIn("\tpark_reader+0x", text)
        status, _, body = get(self.addr, "/debug/pprof/goroutine?debug=2")
        text = body.decode()
        self.assertEqual(text.count('"reader" ['), 3)
        self.assertEqual(text.count('"sleeper" ['), 2)
        self.assertIn("park_sleeper(...)\n\t", text)
        self.assertRegex(text, r"known_program\.c:\d+")

    def test_heap_text_is_gos_legacy_format(self):
        status, headers, body = get(self.addr, "/debug/pprof/heap?debug=1")
        text = body.decode()
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; charset=utf-8")
        self.assertRegex(text.splitlines()[0],
                         rf"^heap profile: \d+: \d+ \[\d+: \d+\] @ heap/{2 * self.rate}$")
        self.assertIn("\tsmall_blocks+0x", text)
        self.assertIn("# VmRSS = ", text)
        # pprof reads the legacy text too (addresses only: it would need
        # the binary to name them).
        path = os.path.join(self.dir, "heap.txt")
        with open(path, "wb") as f:
            f.write(body)
        self.assertRegex(pprof("-top", path),
                         r"Type: inuse_space\nShowing nodes accounting for "
                         r"[1-9]")

    def test_delta_and_diff_base(self):
        base, _ = self.fetch("/debug/pprof/heap", "base.pb.gz")
        delta, _ = self.fetch("/debug/pprof/allocs?seconds=1", "delta.pb.gz")
        out = pprof("-top", delta)
        self.assertIn("Duration: 1", out)
        new, _ = self.fetch("/debug/pprof/heap", "new.pb.gz")
        out = pprof("-top", f"-diff_base={base}", new)
        self.assertIn("Type: inuse_space", out)

    def test_symbol_and_cmdline(self):
        status, _, body = get(self.addr, "/debug/pprof/symbol")
        self.assertEqual((status, body), (200, b"num_symbols: 1\n"))
        _, _, text = get(self.addr, "/debug/pprof/goroutine?debug=1")
        addr = re.search(r"#\t(0x[0-9a-f]+)\tpark_reader\+", text.decode())[1]
        status, _, body = get(self.addr, "/debug/pprof/symbol",
                              data=f"{addr}+0x0+zz".encode())
        self.assertEqual(body.decode(),
                         f"num_symbols: 1\n{addr} park_reader\n")
        status, _, body = get(self.addr, f"/debug/pprof/symbol?{addr}")
        self.assertEqual(body.decode(),
                         f"num_symbols: 1\n{addr} park_reader\n")
        status, _, body = get(self.addr, "/debug/pprof/cmdline")
        self.assertEqual(body.decode(), KNOWN)

    def test_custom_profile_and_index(self):
        status, _, body = get(self.addr, "/debug/pprof/widgets?debug=1")
        self.assertEqual(status, 200)
        self.assertTrue(body.decode().startswith("widgets profile: total 7\n"))
        self.assertIn("\tmake_widget+0x", body.decode())
        path, _ = self.fetch("/debug/pprof/widgets", "widgets.pb.gz")
        self.assertEqual(pprof_values(path, "widgets")["make_widget"][1], 7)
        status, _, body = get(self.addr, "/debug/pprof/")
        self.assertIn("<tr><td>7</td><td><a href='widgets?debug=1'>widgets</a>",
                      body.decode())
        self.assertIn("<a href='heap?debug=1'>heap</a>", body.decode())

    def test_vars(self):
        status, headers, body = get(self.addr, "/debug/vars")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("application/json"))
        v = json.loads(body)
        self.assertEqual(v["test.counter"], 42)
        self.assertEqual(v["test.ratio"], 0.25)
        self.assertEqual(v["cmdline"], [KNOWN])
        self.assertGreaterEqual(v["process"]["threads"], 6)
        self.assertGreater(v["process"]["rss_bytes"], 50_000_000)
        self.assertGreater(v["process"]["open_fds"], 2)
        self.assertEqual(v["nprof"]["heap_rate"], self.rate)
        live = sum(self.truth[s][1] for s in
                   ("small_blocks", "big_blocks", "in_qsort_callback"))
        self.assertNear(v["nprof"]["heap_inuse_bytes"], live, 0.15,
                        "heap_inuse_bytes")
        # glibc's own accounting: the names reports read, figures that add
        # up, the sampled heap inside what glibc says is in use.
        m = v["malloc"]
        self.assertEqual(sorted(m), sorted([
            "allocator", "in_use_bytes", "free_bytes", "mmapped_bytes",
            "arena_bytes", "arenas", "releasable_bytes", "age_seconds"]))
        self.assertGreaterEqual(m["age_seconds"], 0)
        self.assertEqual(m["allocator"], "glibc")
        self.assertEqual(m["in_use_bytes"] + m["free_bytes"], m["arena_bytes"])
        self.assertGreaterEqual(m["arenas"], 1)
        self.assertLessEqual(m["releasable_bytes"], m["free_bytes"])
        self.assertNear(m["in_use_bytes"] + m["mmapped_bytes"], live, 0.25,
                        "malloc in_use_bytes")
        p = v["process"]
        self.assertGreater(p["rss_anon_bytes"], live)
        self.assertGreater(p["rss_file_bytes"], 0)
        # Six threads' stacks, a few pages each, and the main one.
        self.assertTrue(4096 * 6 < p["thread_stacks_rss_bytes"] < 64 << 20,
                        p["thread_stacks_rss_bytes"])

    def test_bad_requests_leave_the_host_unharmed(self):
        cases = [
            ("/debug/pprof/heap?seconds=abc", 400,
             b'invalid value for "seconds" - must be a positive integer\n'),
            ("/debug/pprof/heap?seconds=5&debug=1", 400,
             b"seconds and debug params are incompatible\n"),
            ("/debug/pprof/heap?seconds=999999", 400,
             b"profile duration exceeds server's WriteTimeout\n"),
            ("/debug/pprof/nosuch", 404, b"Unknown profile\n"),
        ]
        for path, status, text in cases:
            got, headers, body = get(self.addr, path)
            self.assertEqual((got, body), (status, text), path)
            self.assertEqual(headers["X-Go-Pprof"], "1")
        self.assertEqual(get(self.addr, "/nothing/here")[0], 404)
        self.assertEqual(get(self.addr, "/debug/pprof/../../etc/passwd")[0],
                         404)
        self.assertEqual(get(self.addr, "/debug/pprof/heap?debug=zz")[0], 200)
        self.assertEqual(get(self.addr, "/debug/pprof/heap",
                             method="DELETE")[0], 405)
        # A POST body over the 1 MiB cap.
        status, _, _ = get(self.addr, "/debug/pprof/symbol",
                           data=b"0x1+" * (300 * 1024))
        self.assertEqual(status, 413)
        host, port = self.addr.rsplit(":", 1)
        # Headers far over the cap, junk instead of HTTP, a truncated request.
        for raw in (b"GET /debug/pprof/ HTTP/1.1\r\nX-Big: " + b"a" * 200000 +
                    b"\r\n\r\n",
                    b"\x00\x01GARBAGE\r\n\r\n",
                    b"GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n"):
            with socket.create_connection((host, int(port)), timeout=10) as s:
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                    reply = s.recv(200)
                except OSError:
                    reply = b""  # the server may close first: fine
                if reply:
                    self.assertRegex(reply, rb"^HTTP/1\.[01] (4\d\d|200)")
        # Concurrent requests.
        errors = []

        def hammer():
            for _ in range(5):
                try:
                    if get(self.addr, "/debug/pprof/goroutine")[0] != 200:
                        errors.append("status")
                except OSError as e:
                    errors.append(str(e))
        threads = [threading.Thread(target=hammer) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        self.assertTrue(self.proc.alive())
        self.assertEqual(get(self.addr, "/debug/pprof/heap")[0], 200)


class KnownProgramDefaultRate(unittest.TestCase):
    """The same program at Go's default rate (512 KiB): fewer samples, so a
    wider tolerance, but the estimates must still be unbiased."""

    def test_big_blocks_at_default_rate(self):
        proc = Process([KNOWN], env={k: v for k, v in os.environ.items()
                                     if k != "NPROF_HEAP_RATE"})
        try:
            addr = proc.read_until("listening on ")[-1].split()[-1]
            path, _ = fetch(addr, "/debug/pprof/heap",
                            os.path.join(TMP, "default.pb.gz"))
            inuse = pprof_values(path, "inuse_space")
            # ~77 samples of 16 KiB blocks: sd ~11%; 4.5 sd.
            want = 40_960_000
            got = inuse["big_blocks"][0]
            self.assertTrue(abs(got - want) <= 0.5 * want, f"{got} vs {want}")
            self.assertIn("Period: 524288", pprof("-raw", path))
        finally:
            proc.close()


class StrippedCode(unittest.TestCase):
    """Frames in a stripped library (Debian ships its libraries so): the
    in-process symbolizer names what .dynsym names and invents nothing for
    the rest, so the real go tool pprof shows the named frames, raw
    addresses for the others, and names those too once it has the
    unstripped binary at the mapping's path."""

    def test_names_where_known_and_pprof_symbolizes_the_rest(self):
        lib = os.path.join(TMP, "libnprof_stripped.so")
        shutil.copy(f"{TEST_LIB}/libnprof_stripped.so", lib)
        env = dict(os.environ, NPROF_HEAP_RATE="4096", HOST_STRIPPED_LIB=lib)
        proc = Process([HOST, "stripped"], env=env)
        try:
            addr = proc.read_until("listening on ")[-1].split()[-1]
            path, _ = fetch(addr, "/debug/pprof/heap",
                            os.path.join(TMP, "stripped.pb.gz"))
            status, _, text = get(addr, "/debug/pprof/heap?debug=1")
        finally:
            proc.close()
        # Named in-process: the exported function and the program's own.
        traces = [t for t in pprof_traces(path) if "stripped_alloc" in t[2]]
        self.assertTrue(traces, pprof("-traces", path)[:2000])
        frames = traces[0][2]
        i = frames.index("stripped_alloc")
        self.assertEqual(frames[i + 1:i + 3], ["keep_stripped_blocks", "main"])
        # The static function: no name, shown by pprof as its mapping.
        self.assertEqual(frames[:i], ["[libnprof_stripped.so]"])
        raw = pprof("-raw", path)
        m = re.search(r"\n\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ "
                      r"(\S+libnprof_stripped\.so) ([0-9a-f]{40}) ?(.*)\n", raw)
        self.assertTrue(m, raw[-1500:])
        self.assertEqual(m[1], lib)
        self.assertNotIn("[FN]", m[3])
        # Text outputs name it library+offset, the same in every process.
        self.assertRegex(text.decode(),
                         r"#\t0x[0-9a-f]+\tlibnprof_stripped\.so\+0x[0-9a-f]+\n"
                         r"#\t0x[0-9a-f]+\tstripped_alloc\+0x")
        # The unstripped build (same build ID) at the mapping's path: pprof
        # symbolizes the mapping itself because it does not claim
        # has_functions. (Go's cmd/pprof ignores PPROF_BINARY_PATH files
        # for mappings with a build ID: it reads no build IDs, so it sees
        # a mismatch.)
        shutil.copy(f"{TEST_LIB}/unstripped/libnprof_stripped.so", lib)
        out = subprocess.run(["go", "tool", "pprof", "-symbolize=local",
                              "-traces", path], capture_output=True,
                             text=True, env=GO_ENV, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        block = [b for b in out.stdout.split("-----------+")
                 if "stripped_alloc" in b]
        self.assertTrue(block, out.stdout[:2000])
        self.assertRegex(block[0], r"hidden_alloc_step\n\s+stripped_alloc\n"
                         r"\s+keep_stripped_blocks\n\s+main\n")


class Preload(unittest.TestCase):
    """LD_PRELOAD on programs the project did not build."""

    def preloaded(self, argv, extra_env=None, stdin=subprocess.DEVNULL):
        port = free_port()
        env = dict(os.environ, LD_PRELOAD=LIB,
                   NPROF_LISTEN=f"127.0.0.1:{port}", **(extra_env or {}))
        return Process(argv, env=env, stdin=stdin), f"127.0.0.1:{port}"

    def test_coreutils_sleep_threads(self):
        proc, addr = self.preloaded(["sleep", "60"])
        try:
            wait_http(addr)
            status, _, body = get(addr, "/debug/pprof/goroutine?debug=1")
            self.assertEqual(status, 200)
            self.assertIn("clock_nanosleep", body.decode())
            status, _, body = get(addr, "/debug/pprof/cmdline")
            self.assertEqual(body, b"sleep\x0060")
        finally:
            proc.close()

    def test_python_heap(self):
        # Debian's python3, 60 MB of bytearrays held while we look.
        code = ("import sys\nx=[bytearray(2000) for i in range(30000)]\n"
                "print('ready', flush=True)\nsys.stdin.read()\n")
        proc, addr = self.preloaded(["/usr/bin/python3", "-c", code],
                                    {"NPROF_HEAP_RATE": "65536"},
                                    stdin=subprocess.PIPE)
        try:
            proc.read_until("ready")
            path, _ = fetch(addr, "/debug/pprof/heap",
                            os.path.join(TMP, "python.pb.gz"))
            top = pprof("-unit=B", "-top", "-sample_index=inuse_space", path)
            total = int(re.search(r"of (\d+)B total", top)[1])
            self.assertTrue(50_000_000 < total < 80_000_000, top[:500])
            # Mappings carry build IDs, read in-process. Debian's python3
            # is stripped: its static functions have no name, so the
            # mapping must not claim has_functions ([FN]), or pprof would
            # never symbolize them with the binary at hand.
            raw = pprof("-raw", path)
            m = re.search(r"\n(\d+): \S+ (/usr/bin/python3\.\d+) [0-9a-f]{40} "
                          r"(.*)\n", raw)
            self.assertTrue(m, raw[-2000:])
            unnamed = re.findall(rf"\n\s+\d+: 0x[0-9a-f]+ M={m[1]} \n", raw)
            self.assertTrue(unnamed, "no unnamed python frame")
            self.assertNotIn("[FN]", m[3])
        finally:
            proc.close()

    def test_cxx_names_are_demangled(self):
        proc, addr = self.preloaded([f"{BUILD}/test/bin/cxx_program"],
                                    {"NPROF_HEAP_RATE": "4096"},
                                    stdin=subprocess.PIPE)
        try:
            proc.read_until("ready")
            status, _, body = get(addr, "/debug/pprof/heap?debug=1")
            self.assertEqual(status, 200)
            text = body.decode()
            self.assertIn("\tns::Box<char>::make+0x", text)
            self.assertIn("\t(anonymous namespace)::anon+0x", text)
            self.assertNotIn("_ZN2ns3Box", text)
            # Allocation wrappers are not the leaf: with_new is.
            self.assertIn("@ ", text)
            leaves = heap_leaves(text)
            self.assertIn("(anonymous namespace)::with_new", leaves)
            self.assertNotIn("operator new[]", leaves)
        finally:
            proc.close()

    def test_heap_wrappers_can_be_named(self):
        proc, addr = self.preloaded([f"{BUILD}/test/bin/cxx_program"],
                                    {"NPROF_HEAP_RATE": "4096",
                                     "NPROF_HEAP_WRAPPERS":
                                     "ns::Box<char>::make"},
                                    stdin=subprocess.PIPE)
        try:
            proc.read_until("ready")
            text = get(addr, "/debug/pprof/heap?debug=1")[2].decode()
            leaves = heap_leaves(text)
            self.assertIn("(anonymous namespace)::anon", leaves)
            self.assertNotIn("ns::Box<char>::make", leaves)
        finally:
            proc.close()

    def test_bad_listen_address_is_said_once_and_harmless(self):
        for listen in ("bogus", "127.0.0.1:99999", "[::1"):
            env = dict(os.environ, LD_PRELOAD=LIB, NPROF_LISTEN=listen)
            out = subprocess.run(["true"], env=env, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0)
            lines = out.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, out.stderr)
            self.assertIn("nprof: profiling server off", lines[0])

    def test_port_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            env = dict(os.environ, LD_PRELOAD=LIB,
                       NPROF_LISTEN=f"127.0.0.1:{port}")
            out = subprocess.run(["echo", "hi"], env=env, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual((out.returncode, out.stdout), (0, "hi\n"))
            self.assertIn("cannot listen on", out.stderr)

    def test_another_malloc_is_unknown(self):
        # An allocator preloaded before libnprof serves malloc: glibc's
        # figures would describe an allocator nobody uses.
        bump = os.path.abspath(f"{TEST_LIB}/libbump_malloc.so")
        port = free_port()
        env = dict(os.environ, LD_PRELOAD=f"{bump} {LIB}",
                   NPROF_LISTEN=f"127.0.0.1:{port}")
        proc = Process(["sleep", "60"], env=env, stdin=subprocess.DEVNULL)
        try:
            wait_http(f"127.0.0.1:{port}")
            v = json.loads(get(f"127.0.0.1:{port}", "/debug/vars")[2])
            self.assertEqual(v["malloc"], {"allocator": "unknown"})
        finally:
            proc.close()

    def test_heap_rate_zero_turns_sampling_off(self):
        proc, addr = self.preloaded(["sleep", "60"], {"NPROF_HEAP_RATE": "0"})
        try:
            wait_http(addr)
            v = json.loads(get(addr, "/debug/vars")[2])
            self.assertEqual(v["nprof"]["heap_rate"], 0)
            self.assertEqual(v["nprof"]["heap_samples"], 0)
        finally:
            proc.close()


if __name__ == "__main__":
    for tool in ("go",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make deps`")
    try:
        result = unittest.main(exit=False, verbosity=2).result
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(0 if result.wasSuccessful() else 1)
