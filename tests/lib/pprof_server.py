#!/usr/bin/python3
"""The tests' one fake pprof server: it stands in for libnprof's debug
endpoints where a test needs answers it controls (nprof fetch's errors and
redirects, the loadgen's snapshot hooks). Binds 127.0.0.1 on a free port
(port 0) and writes the port to the port file once it listens, so a test
never guesses a port.

    tests/lib/pprof_server.py [PORT_FILE] [--port-file PORT_FILE]
        [--file FILE] [--missing PATH]... [--slow SECONDS [--slow-path PATH]...]
        [--lifetime SECONDS]

Paths:
  /debug/pprof/heap       the bytes of --file; without it, like goroutine
  /debug/pprof/goroutine  gzip of "goroutine proto, request N"
  /debug/pprof/X?Q        (debug=1 in Q) "X?Q text profile, request N"
  /debug/vars             {"request": N}
    (N counts requests, so a test tells the phases' files apart; --slow
    delays these answers, only those of --slow-path's paths when given;
    --missing PATH answers 404 for that path)
  /echo-query             the request's query string as the body
  /missing                404, two lines of text (a client prints the first)
  /error                  500 "boom"
  /slow                   sleeps 5 s before answering (timeouts)
  /redirect               302 to /debug/pprof/heap

It never outlives its test: it exits when its parent process goes away
(the test was killed before its trap ran) or after --lifetime seconds
(default 600), whichever comes first; tests still stop it on exit.
Standard library only.
"""
import argparse
import gzip
import http.server
import os
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port_file_pos", nargs="?", metavar="PORT_FILE")
    ap.add_argument("--port-file")
    ap.add_argument("--file")
    ap.add_argument("--missing", action="append", default=[])
    ap.add_argument("--slow", type=float, default=0)
    ap.add_argument("--slow-path", action="append", default=[])
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    port_file = args.port_file or args.port_file_pos
    if not port_file:
        ap.error("a port file is required")
    profile = None
    if args.file:
        with open(args.file, "rb") as f:
            profile = f.read()
    lock = threading.Lock()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body, ctype="text/plain; charset=utf-8",
                  headers=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def canned(self, url, n):
            """The stand-in profiles; None when the path is not one."""
            # the path's last part as asked ("heap?debug=1"): a test sees
            # which request a body answers
            kind = self.path.rsplit("/", 1)[-1].encode()
            if url.path == "/debug/vars":
                return 200, b'{"request": %d}' % n, "application/json"
            if not url.path.startswith("/debug/pprof/"):
                return None
            if "debug=1" in url.query:
                return (200, b"%s text profile, request %d\n" % (kind, n),
                        "text/plain")
            if url.path == "/debug/pprof/heap" and profile is not None:
                return 200, profile, "application/octet-stream"
            if url.path in ("/debug/pprof/heap", "/debug/pprof/goroutine"):
                return (200, gzip.compress(b"%s proto, request %d" % (kind, n)),
                        "application/octet-stream")
            return None

        def do_GET(self):
            with lock:
                count[0] += 1
                n = count[0]
            url = urllib.parse.urlsplit(self.path)
            if self.path in args.missing or url.path in args.missing:
                self.reply(404, b"404 page not found\n")
                return
            if url.path == "/echo-query":
                self.reply(200, url.query.encode())
            elif url.path == "/missing":
                self.reply(404, b"Unknown profile: missing\nsecond line\n")
            elif url.path == "/error":
                self.reply(500, b"boom")
            elif url.path == "/slow":
                time.sleep(5)
                self.reply(200, b"late")
            elif url.path == "/redirect":
                self.reply(302, b"", headers=[("Location", "/debug/pprof/heap")])
            else:
                answer = self.canned(url, n)
                if answer is None:
                    self.reply(404, b"404 page not found\n")
                    return
                if args.slow and (not args.slow_path or
                                  url.path in args.slow_path):
                    time.sleep(args.slow)
                self.reply(answer[0], answer[1], answer[2])

        def log_message(self, fmt, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    parent = os.getppid()

    def watchdog():
        deadline = time.monotonic() + args.lifetime
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watchdog, daemon=True).start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, port_file)  # the test sees a whole port number
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
