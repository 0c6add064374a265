#!/usr/bin/env python3
"""A tiny HTTP server standing in for a /debug/pprof endpoint in the
`nprof fetch` tests. Binds 127.0.0.1 on a free port (port 0) and writes the
port to --port-file once it listens, so the test never guesses a port.

Paths:
  /debug/pprof/heap   the bytes of --file
  /echo-query         the request's query string as the body
  /missing            404, two lines of text (fetch must print the first)
  /error              500 "boom"
  /slow               sleeps 5 s before answering (timeout test)
  /redirect           302 to /debug/pprof/heap
"""
import argparse
import http.server
import os
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        profile = f.read()

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

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/debug/pprof/heap":
                self.reply(200, profile, "application/octet-stream")
            elif url.path == "/echo-query":
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
                self.reply(404, b"404 page not found\n")

        def log_message(self, fmt, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)  # the test sees a whole port number
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
