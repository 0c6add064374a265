"""Helpers shared by the profiler's integration tests: where the build is,
a free port, one HTTP request, a test program that serves, and the real
`go tool pprof` with its caches in a temporary folder, its -top table read
back."""
import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("BUILD", "build")
LIB = os.path.abspath(f"{BUILD}/lib/libnprof.so")

GO_HOME = tempfile.mkdtemp(prefix="nprof-go-")
atexit.register(shutil.rmtree, GO_HOME, True)
GO_ENV = dict(os.environ, HOME=GO_HOME, GOCACHE=f"{GO_HOME}/gocache",
              PPROF_TMPDIR=GO_HOME, GOFLAGS="")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Program:
    """A program under test, killed on close (also on failure paths). With
    `listening`, it prints "listening on ADDR" once it serves, and addr is
    that address."""

    def __init__(self, argv, env=None, stdin=subprocess.PIPE, listening=True):
        self.p = subprocess.Popen(argv, env=env, stdin=stdin,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        if listening:
            self.addr = self.read_line("listening on ").split()[-1]

    def read_line(self, prefix, deadline_s=30):
        end = time.time() + deadline_s
        while time.time() < end:
            line = self.p.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line
        self.close()
        raise AssertionError(f"no '{prefix}' line from {self.p.args[0]}")

    def alive(self):
        return self.p.poll() is None

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()


def get(addr, path, timeout=60, data=None, method=None):
    """Returns (status, headers, body) for one request; errors included."""
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def fetch(addr, path, out, timeout=60):
    """GETs `path` into the file `out`; returns (out, headers). Anything but
    200 fails the test with the status and the start of the body."""
    status, headers, body = get(addr, path, timeout=timeout)
    if status != 200:
        raise AssertionError(f"{path}: {status} {body[:300]!r}")
    with open(out, "wb") as f:
        f.write(body)
    return out, headers


def pprof(*args, timeout=120):
    """Runs go tool pprof -symbolize=none ARGS; its stdout, or raises."""
    out = subprocess.run(["go", "tool", "pprof", "-symbolize=none", *args],
                         capture_output=True, text=True, env=GO_ENV,
                         timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"go tool pprof {args} failed: {out.stderr}")
    return out.stdout


def _number(text):
    return float(text) if "." in text else int(text)


def pprof_top(path, sample_index, unit):
    """`pprof -top` of every node in `unit` (B, ms, count...): returns
    ({function: (flat, cum)}, the table's text)."""
    text = pprof(f"-unit={unit}", "-top", "-nodecount=1000",
                 f"-sample_index={sample_index}", path)
    values = {}
    for line in text.splitlines():
        m = re.match(r"\s*(-?[\d.]+)\w*\s+\S+%\s+\S+%\s+(-?[\d.]+)\w*\s+"
                     r"\S+%\s+(.+)$", line)
        if m:
            values[m.group(3).strip()] = (_number(m.group(1)),
                                          _number(m.group(2)))
    return values, text
