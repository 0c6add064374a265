#!/usr/bin/python3
"""A stand-in for libnprof's debug server: serves canned profiles at Go's
/debug/pprof paths so that loadgen's snapshot hooks can be tested on their
own. Each response embeds a per-request counter so the test can tell the
phases' files apart.
  pprof_fixture.py PORT_FILE [--missing PATH]... [--slow SECONDS
                   [--slow-path PATH]...]"""
import argparse
import gzip
import http.server
import os
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port_file")
ap.add_argument("--missing", action="append", default=[])
ap.add_argument("--slow", type=float, default=0)
ap.add_argument("--slow-path", action="append", default=[],
                help="only these paths are slow (default: all)")
args = ap.parse_args()
lock = threading.Lock()
count = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            count[0] += 1
            n = count[0]
        if self.path in args.missing:
            self.send_error(404)
            return
        if args.slow and (not args.slow_path or self.path in args.slow_path):
            time.sleep(args.slow)
        kind = self.path.split("/")[-1]
        if self.path == "/debug/vars":
            body = b'{"request": %d}' % n
            ctype = "application/json"
        elif "debug=1" in self.path:
            body = b"%s text profile, request %d\n" % (kind.encode(), n)
            ctype = "text/plain"
        elif self.path in ("/debug/pprof/heap", "/debug/pprof/goroutine"):
            body = gzip.compress(b"%s proto, request %d" % (kind.encode(), n))
            ctype = "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
