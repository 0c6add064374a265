#!/usr/bin/python3
"""libnprof inside someone else's process must never harm it. Each class
here is a way a host was harmed before, reproduced with a small host
(tests/profiler/host_program.c) or a Debian program under LD_PRELOAD:
  - contention sampling at rate 1 with busy threads, while thread stacks
    and CPU profiles are taken: every request is answered (it deadlocked);
  - a thread waiting in sigwaitinfo() never receives the capture signal,
    a thread that blocks it does not collect queued signals, and a handler
    the application installs later is never fired by a capture;
  - symbol lookups of random addresses leave the memory bounded;
  - Host headers other than IP literals, localhost and the allow-list are
    refused (DNS rebinding);
  - long requests cannot take every connection;
  - a preloaded daemon that forks and lets its parent exit keeps a debug
    server.

Run from the top folder after `make` (tests/run.sh does). Servers listen on
ports the OS picked, every request and wait has a deadline (a hang fails
the test instead of hanging it), every process is killed at the end.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "profiler"))
from testlib import BUILD, LIB, Program, free_port, get  # noqa: E402

HOST = f"{BUILD}/test/bin/host_program"
TMP = tempfile.mkdtemp(prefix="nprof-safety-")


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(None, 1)[1].strip()
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Host(Program):
    """host_program in one mode; killed on close."""

    def __init__(self, mode, env=None):
        super().__init__([HOST, mode], env=env)

    def command(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def vars(self):
        status, _, body = get(self.addr, "/debug/vars", timeout=20)
        if status != 200:
            raise AssertionError(f"/debug/vars: {status}")
        return json.loads(body)


class ContentionWhileUnwinding(unittest.TestCase):
    """Six threads contend for a mutex with every contended acquisition
    recorded; thread captures and CPU profiles unwind in signal handlers at
    the same time. libunwind's own lock went through the interposed
    pthread_mutex_lock, whose contention record unwound again and took the
    same lock: every thread of the process hung."""

    def test_every_request_is_answered(self):
        h = Host("busy")
        errors = []
        try:
            def goroutines():
                for _ in range(40):
                    try:
                        status, _, body = get(
                            h.addr, "/debug/pprof/goroutine?debug=1",
                            timeout=20)
                        if status != 200 or b"contend" not in body:
                            errors.append(f"goroutine: {status}")
                    except OSError as e:
                        errors.append(f"goroutine: {e}")
                        return

            def profiles():
                for _ in range(4):
                    try:
                        status, _, _ = get(h.addr,
                                           "/debug/pprof/profile?seconds=1",
                                           timeout=20)
                        if status != 200:
                            errors.append(f"profile: {status}")
                    except OSError as e:
                        errors.append(f"profile: {e}")
                        return
            threads = [threading.Thread(target=goroutines) for _ in range(3)]
            threads.append(threading.Thread(target=profiles))
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=200)
            self.assertEqual(errors, [])
            # The mutex profile recorded the contention meanwhile.
            status, _, body = get(h.addr, "/debug/pprof/mutex?debug=1",
                                  timeout=20)
            self.assertEqual(status, 200)
            self.assertIn(b"contend", body)
            self.assertTrue(h.alive())
        finally:
            h.close()


CAPTURE_SIGNAL = 40  # NPROF_SIGNAL for these tests: SIGRTMIN + 6


def task_of(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError(f"no thread {name} in {pid}")


class CaptureSignal(unittest.TestCase):
    """Thread stacks are taken with a real-time signal sent to each thread.
    A thread that waits for signals with sigwaitinfo() received it as its
    own; a thread that blocks it kept one queued instance per request (SigQ
    grew until RLIMIT_SIGPENDING ran out); a handler the application
    installed after start-up was fired on every thread."""

    def setUp(self):
        env = dict(os.environ, NPROF_SIGNAL=str(CAPTURE_SIGNAL))
        self.h = Host("signals", env=env)
        self.pid = self.h.p.pid

    def tearDown(self):
        self.h.close()

    def goroutines(self, n, debug=1):
        replies = []
        for _ in range(n):
            replies.append(get(self.h.addr,
                               f"/debug/pprof/goroutine?debug={debug}",
                               timeout=20))
        return replies

    def test_sigwaitinfo_thread_never_sees_it(self):
        for status, _, body in self.goroutines(30):
            self.assertEqual(status, 200, body)
        time.sleep(0.2)
        v = self.h.vars()
        self.assertEqual(v["sigwait.got"], 0,
                         f"last signal received: {v['sigwait.last']}")
        # Both listed, without a stack.
        text = self.goroutines(1, debug=2)[0][2].decode()
        for name in ("sigwaiter", "blocker"):
            self.assertRegex(text, rf'"{name}" \[[a-z ]+\]:\n\(no stack: the '
                             r"thread blocks the capture signal\)")
        # The others still have theirs.
        self.assertIn("main(...)", text)

    def test_blocked_signal_does_not_pile_up(self):
        blocker = task_of(self.pid, "blocker")
        queued = int(status_field(self.pid, "SigQ").split("/")[0])
        for status, _, _ in self.goroutines(50):
            self.assertEqual(status, 200)
        pending = int(status_field(f"{self.pid}/task/{blocker}", "SigPnd"),
                      16)
        self.assertFalse(pending & (1 << (CAPTURE_SIGNAL - 1)),
                         f"capture signal pending on the blocker: {pending:x}")
        # SigQ counts every queued signal of the user (root here): other
        # processes may hold a few; 50 requests added 50 before.
        after = int(status_field(self.pid, "SigQ").split("/")[0])
        self.assertLess(after - queued, 10, f"SigQ {queued} -> {after}")

    def test_handler_installed_later_is_never_fired(self):
        self.assertEqual(self.goroutines(1)[0][0], 200)
        self.h.command(f"handler {CAPTURE_SIGNAL}")
        self.h.read_line("installed")
        for status, headers, body in self.goroutines(10):
            self.assertEqual(status, 500, body)
            self.assertEqual(body.decode(),
                             "could not capture the threads: the application "
                             f"installed its own handler for signal "
                             f"{CAPTURE_SIGNAL}, which libnprof uses to "
                             "capture stacks (NPROF_SIGNAL names another)\n")
        time.sleep(0.2)
        self.assertEqual(self.h.vars()["app.handler_calls"], 0)
        # Everything else still answers.
        self.assertEqual(get(self.h.addr, "/debug/pprof/heap",
                             timeout=20)[0], 200)
        self.assertTrue(self.h.alive())


class SymbolLookups(unittest.TestCase):
    """POST /debug/pprof/symbol takes any address from the network. Each
    distinct one used to get a cache entry and an interned name for good:
    about 17 MB per 1 MiB POST, never freed."""

    def test_random_addresses_leave_rss_bounded(self):
        h = Host("idle")
        rng = random.Random(7)

        def body():
            words, size = [], 0
            while size < 1000 * 1024:
                w = "%#x" % rng.randrange(1 << 40, 1 << 47)
                words.append(w)
                size += len(w) + 1
            return "+".join(words).encode()
        try:
            pid = h.p.pid
            self.assertEqual(get(h.addr, "/debug/pprof/symbol", data=body(),
                                 timeout=60)[0], 200)
            before = int(status_field(pid, "VmRSS").split()[0])
            for _ in range(10):
                status, _, reply = get(h.addr, "/debug/pprof/symbol",
                                       data=body(), timeout=60)
                self.assertEqual((status, reply), (200, b"num_symbols: 1\n"))
            after = int(status_field(pid, "VmRSS").split()[0])
            print(f"\n# RSS across 10 symbol POSTs of 1 MiB: {before} kB -> "
                  f"{after} kB", file=sys.stderr)
            self.assertLess(after - before, 24 * 1024)
        finally:
            h.close()


def curl(addr, path, *args):
    """(status, body) of curl ARGS http://ADDR/PATH, within 20 s."""
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-",
                          "-w", "\n%{http_code}", *args,
                          f"http://{addr}{path}"],
                         capture_output=True, text=True, timeout=30)
    body, _, status = out.stdout.rpartition("\n")
    return int(status or 0), body


class HostHeader(unittest.TestCase):
    """DNS rebinding: a page in a browser resolves its own name to
    127.0.0.1 and reads the debug endpoints (cmdline, vars, profiles).
    Only IP literals, localhost and NPROF_ALLOWED_HOSTS may be named in the
    Host header; a request without one (HTTP/1.0) passes."""

    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, NPROF_ALLOWED_HOSTS="notifier, Build.Example")
        cls.h = Host("idle", env=env)
        cls.port = cls.h.addr.rsplit(":", 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.h.close()

    def test_names_that_pass(self):
        for host in (f"127.0.0.1:{self.port}", "127.0.0.1", "10.1.2.3:80",
                     f"[::1]:{self.port}", "[::1]", f"localhost:{self.port}",
                     "LOCALHOST", f"notifier:{self.port}", "notifier",
                     "build.example:8086"):
            for path in ("/debug/vars", "/debug/pprof/cmdline"):
                status, _ = curl(self.h.addr, path, "-H", f"Host: {host}")
                self.assertEqual(status, 200, f"{host} {path}")
        # HTTP/1.0 without a Host header.
        status, _ = curl(self.h.addr, "/debug/vars", "-0", "-H", "Host:")
        self.assertEqual(status, 200)

    def test_other_names_get_403(self):
        for host in ("evil.example", f"evil.example:{self.port}",
                     "localhost.evil.example", "127.0.0.1.evil.example",
                     "notifier.evil.example", "[::1", "::1", "a:b:c",
                     "x" * 300, ":80"):
            for path in ("/debug/vars", "/debug/pprof/cmdline",
                         "/debug/pprof/heap", "/debug/pprof/"):
                status, body = curl(self.h.addr, path, "-H", f"Host: {host}")
                self.assertEqual(status, 403, f"{host} {path}: {body}")
                self.assertEqual(body.count("\n"), 1, body)
                self.assertIn("NPROF_ALLOWED_HOSTS", body)
                self.assertNotIn(b"\x00", body.encode())
        # A POST too, body and all.
        status, _ = curl(self.h.addr, "/debug/pprof/symbol", "-H",
                         "Host: evil.example", "--data-binary", "0x1+0x2")
        self.assertEqual(status, 403)


class LongRequests(unittest.TestCase):
    """Delta profiles sleep for their seconds holding a connection: 64 of
    them (the connection cap) held the server, and the index, the
    variables and every other profile stopped answering."""

    def test_the_rest_still_answers(self):
        h = Host("idle")
        replies = []

        def delta():
            try:
                replies.append(get(h.addr, "/debug/pprof/heap?seconds=60",
                                   timeout=90)[0])
            except OSError as e:
                replies.append(str(e))
        try:
            threads = [threading.Thread(target=delta, daemon=True)
                       for _ in range(70)]
            for t in threads:
                t.start()
            end = time.time() + 20
            while len(replies) < 66 and time.time() < end:
                time.sleep(0.05)
            # All but a few were turned away at once, with Go's error form.
            self.assertGreaterEqual(replies.count(429), 66, replies)
            status, headers, body = get(h.addr,
                                        "/debug/pprof/allocs?seconds=5",
                                        timeout=10)
            self.assertEqual(status, 429)
            self.assertEqual(headers["X-Go-Pprof"], "1")
            self.assertIn(b"at most 4 delta profiles at a time", body)
            for path in ("/debug/vars", "/debug/pprof/", "/debug/pprof/heap",
                         "/debug/pprof/goroutine?debug=1",
                         "/debug/pprof/cmdline"):
                status, _, _ = get(h.addr, path, timeout=5)
                self.assertEqual(status, 200, path)
        finally:
            h.close()


DAEMON = """
import os, sys, time
if os.fork():
    os._exit(0)          # the parent exits at once, as daemons do
print(os.getpid(), flush=True)
time.sleep(60)
"""


class DaemonFork(unittest.TestCase):
    """A preloaded program that daemonizes (fork, the parent exits, the
    child carries on) lost its debug server silently: the server's threads
    stay in the parent."""

    def test_the_child_takes_the_server_over(self):
        port = free_port()
        env = dict(os.environ, LD_PRELOAD=LIB,
                   NPROF_LISTEN=f"127.0.0.1:{port}")
        p = subprocess.Popen(["/usr/bin/python3", "-c", DAEMON], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        child = None
        try:
            child = int(p.stdout.readline())
            p.wait(timeout=10)
            addr = f"127.0.0.1:{port}"
            end, v = time.time() + 20, None
            while time.time() < end:
                try:
                    status, _, body = get(addr, "/debug/vars", timeout=2)
                    if status == 200:
                        v = json.loads(body)
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            self.assertIsNotNone(v, "no debug server after the parent left")
            self.assertEqual(v["process"]["pid"], child)
            status, _, body = get(addr, "/debug/pprof/goroutine?debug=1",
                                  timeout=20)
            self.assertEqual(status, 200)
        finally:
            if child:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
        lines = [ln for ln in err.splitlines() if ln.startswith("nprof:")]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(f"pid {child}", lines[0])
        self.assertIn(f"127.0.0.1:{port}", lines[0])


if __name__ == "__main__":
    try:
        result = unittest.main(exit=False, verbosity=2).result
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(0 if result.wasSuccessful() else 1)
