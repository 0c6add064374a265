"""Shared helpers for the notifier's integration tests and benchmark.

Run with Debian's /usr/bin/python3 (it has grpcio and grpc_tools). Stubs are
generated from proto/notifier.proto into a temporary directory at start-up,
so the tests use a client the project did not write: grpcio.

Every wait here has a deadline, and every process started is killed on the
way out, including when the test itself is sent SIGTERM by tests/run.sh.
"""
import atexit
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTIFIER = os.environ.get("NOTIFIER_BIN", os.path.join(ROOT, "build/bin/notifier"))
TMP = tempfile.mkdtemp(prefix="notifier-test-")

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    subprocess.run(["rm", "-rf", TMP], check=False)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def load_stubs():
    """Generates and imports notifier_pb2 / notifier_pb2_grpc."""
    out = os.path.join(TMP, "stubs")
    os.makedirs(out, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"),
         "--python_out=" + out, "--grpc_python_out=" + out,
         os.path.join(ROOT, "proto/notifier.proto")],
        check=True, timeout=60)
    sys.path.insert(0, out)
    import notifier_pb2
    import notifier_pb2_grpc
    return notifier_pb2, notifier_pb2_grpc


LISTEN_RE = re.compile(r"listening grpc=(\S+) debug=(\S+)")


class Server:
    """build/bin/notifier on a port the OS picks (--grpc-addr ...:0); the
    port is read from its 'listening' log line."""

    def __init__(self, *args, env=None, grpc_addr="127.0.0.1:0", mode="prod",
                 ready_timeout=15):
        self.log_path = os.path.join(TMP, "notifier-%d.log" % len(_procs))
        self.log = open(self.log_path, "w+")
        argv = [NOTIFIER]
        if grpc_addr is not None:
            argv += ["--grpc-addr", grpc_addr]
        if mode is not None:
            argv += ["--mode", mode]
        argv += list(args)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        _procs.append(self.proc)
        deadline = time.monotonic() + ready_timeout
        while True:
            m = LISTEN_RE.search(self.text())
            if m:
                self.addr, self.debug = m.group(1), m.group(2)
                break
            if self.proc.poll() is not None:
                raise AssertionError("notifier exited %d before listening:\n%s"
                                     % (self.proc.returncode, self.text()))
            if time.monotonic() > deadline:
                raise AssertionError("notifier not listening after %ss:\n%s"
                                     % (ready_timeout, self.text()))
            time.sleep(0.02)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or None when still running after `timeout` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(10) is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


class StreamReader:
    """Reads a Connect stream on a thread into a queue, so tests wait for
    each message with a timeout. Items: ('md', None) once headers arrived,
    ('msg', Notification), then ('end', grpc.RpcError or None)."""

    def __init__(self, call):
        self.call = call
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            self.call.initial_metadata()
            self.q.put(("md", None))
            for m in self.call:
                self.q.put(("msg", m))
            self.q.put(("end", None))
        except Exception as e:  # grpc.RpcError, also for a cancel
            self.q.put(("end", e))

    def get(self, timeout=5.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no stream event within %ss" % timeout)

    def wait_open(self, timeout=5.0):
        kind, v = self.get(timeout)
        if kind != "md":
            raise AssertionError("stream did not open: %r %r" % (kind, v))

    def next_msg(self, timeout=5.0):
        kind, v = self.get(timeout)
        if kind != "msg":
            raise AssertionError("expected a notification, got %r %r" % (kind, v))
        return v

    def end(self, timeout=5.0):
        while True:
            kind, v = self.get(timeout)
            if kind == "end":
                return v


# --- a raw HTTP/2 client that stalls: a tiny window, never reads ---

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from h2wire import frame, hpack_literal  # noqa: E402  (the tests' one builder)


def stalled_connect(addr, user):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    # A small receive buffer so the kernel does not absorb megabytes first.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    settings = struct.pack(">HI", 0x4, 1024)  # INITIAL_WINDOW_SIZE = 1 KiB
    headers = b"".join(hpack_literal(k, v) for k, v in [
        (b":method", b"POST"), (b":scheme", b"http"),
        (b":path", b"/notifier.Notifier/Connect"), (b":authority", addr.encode()),
        (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    msg = b"\x0a" + bytes([len(user)]) + user.encode()  # ConnectRequest{user_id}
    body = b"\x00" + struct.pack(">I", len(msg)) + msg
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, settings) +
              frame(4, 1, 0) +  # acknowledge the server's SETTINGS up front
              frame(1, 4, 1, headers) + frame(0, 1, 1, body))
    return s  # never read again



def poll(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)


class Runner:
    """Runs named checks, prints TAP-like lines, exits non-zero on failure."""

    def __init__(self):
        self.failed = []

    def run(self, name, fn, *args):
        t = time.monotonic()
        try:
            fn(*args)
            print("ok - %s (%.2fs)" % (name, time.monotonic() - t), flush=True)
        except SystemExit:
            raise
        except BaseException as e:
            import traceback
            traceback.print_exc()
            print("not ok - %s: %s" % (name, e), flush=True)
            self.failed.append(name)

    def finish(self):
        if self.failed:
            print("FAILED: " + ", ".join(self.failed), flush=True)
            sys.exit(1)
        sys.exit(0)
