#!/usr/bin/python3
"""A deliberately minimal HTTP/2 server speaking just enough gRPC to test
loadgen's handling of the wire: it answers every request with response
headers, then acts out one --mode:
  split    three Notifications per stream: the first cut across three DATA
           frames (cut inside the 5-byte prefix too), the other two packed
           into one DATA frame; and one PING per connection, whose ACK is
           counted
  goaway   GOAWAY (NO_ERROR, last stream = the highest seen), then close
  rst      RST_STREAM (CANCEL) on every stream
  compressed  a message with the compressed flag set (never negotiated)
The port goes to PORT_FILE; SIGTERM writes a JSON summary to --stats-file.
Header blocks use only the static HPACK table: no dynamic state."""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port_file")
ap.add_argument("--mode", required=True,
                choices=["split", "goaway", "rst", "compressed"])
ap.add_argument("--stats-file")
ap.add_argument("--no-table-size-update", action="store_true",
                help="break RFC 7541 4.2: a protocol error for loadgen")
args = ap.parse_args()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from h2wire import DATA, HEADERS, PING, SETTINGS, GOAWAY, frame, varint, \
    grpc_message  # noqa: E402
from h2wire import RST_STREAM as RST  # noqa: E402

lock = threading.Lock()
stats = {"connections": 0, "streams": 0, "ping_acks": 0}


def notification(i):
    # Notification{id=i, user_id="raw", payload="p", sent_unix_nanos=now}
    return grpc_message(b"\x08" + varint(i) + b"\x12\x03raw" + b"\x1a\x01p" +
                        b"\x20" + varint(time.time_ns()))


# :status 200 (static index 8); content-type (static 31) literal, no index
RESPONSE = b"\x88" + b"\x0f\x10" + bytes([16]) + b"application/grpc"


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(sock):
    with lock:
        stats["connections"] += 1
    try:
        recv_exact(sock, 24)  # client preface
        sock.sendall(frame(SETTINGS, 0, 0))
        pinged = False
        sized = False
        highest = 0
        while True:
            hdr = recv_exact(sock, 9)
            length = struct.unpack(">I", b"\x00" + hdr[:3])[0]
            ftype, flags = hdr[3], hdr[4]
            sid = struct.unpack(">I", hdr[5:])[0] & 0x7FFFFFFF
            payload = recv_exact(sock, length)
            if ftype == SETTINGS and not flags & 1:
                sock.sendall(frame(SETTINGS, 1, 0))
            elif ftype == PING and flags & 1:
                with lock:
                    stats["ping_acks"] += 1
            elif ftype == HEADERS:
                with lock:
                    stats["streams"] += 1
                highest = max(highest, sid)
                # loadgen sets SETTINGS_HEADER_TABLE_SIZE 0: RFC 7541 4.2
                # wants a table size update opening the next header block.
                block = RESPONSE
                if not sized and not args.no_table_size_update:
                    block = b"\x20" + RESPONSE
                sized = True
                sock.sendall(frame(HEADERS, 4, sid, block))
                if args.mode == "split":
                    m1 = notification(1)
                    m23 = notification(2) + notification(3)
                    sock.sendall(frame(DATA, 0, sid, m1[:3]) +
                                 frame(DATA, 0, sid, m1[3:9]) +
                                 frame(DATA, 0, sid, m1[9:]) +
                                 frame(DATA, 0, sid, m23))
                    if not pinged:
                        sock.sendall(frame(PING, 0, 0, b"loadgen!"))
                        pinged = True
                elif args.mode == "rst":
                    sock.sendall(frame(RST, 0, sid, struct.pack(">I", 8)))
                elif args.mode == "compressed":
                    sock.sendall(frame(DATA, 0, sid, b"\x01" +
                                       struct.pack(">I", 2) + b"\x08\x01"))
            elif ftype == DATA and args.mode == "goaway" and flags & 1:
                # The request is complete: say goodbye, then hang up.
                sock.sendall(frame(GOAWAY, 0, 0,
                                   struct.pack(">II", highest, 0)))
                time.sleep(0.05)
                sock.close()
                return
    except (EOFError, OSError):
        pass
    finally:
        sock.close()


def on_term(*_):
    if args.stats_file:
        with lock:
            text = json.dumps(stats)
        with open(args.stats_file + ".tmp", "w") as f:
            f.write(text)
        os.rename(args.stats_file + ".tmp", args.stats_file)
    os._exit(0)


signal.signal(signal.SIGTERM, on_term)
lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(128)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(lsock.getsockname()[1]))
os.rename(args.port_file + ".tmp", args.port_file)
while True:
    conn, _ = lsock.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
