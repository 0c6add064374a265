"""Helpers shared by the profiler's integration tests: one HTTP request,
and the real `go tool pprof` with its caches in a temporary folder."""
import atexit
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

GO_HOME = tempfile.mkdtemp(prefix="nprof-go-")
atexit.register(shutil.rmtree, GO_HOME, True)
GO_ENV = dict(os.environ, HOME=GO_HOME, GOCACHE=f"{GO_HOME}/gocache",
              PPROF_TMPDIR=GO_HOME, GOFLAGS="")


def get(addr, path, timeout=60, data=None, method=None):
    """Returns (status, headers, body) for one request; errors included."""
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def pprof(*args, timeout=120):
    """Runs go tool pprof -symbolize=none ARGS; its stdout, or raises."""
    out = subprocess.run(["go", "tool", "pprof", "-symbolize=none", *args],
                         capture_output=True, text=True, env=GO_ENV,
                         timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"go tool pprof {args} failed: {out.stderr}")
    return out.stdout
