#!/usr/bin/python3
"""A notifier.Notifier server the project did not write: python3-grpcio
(grpc.aio), for loadgen's interoperability tests and benchmark.

Stubs are generated at start, in-process (grpc_test_server.py), from
proto/notifier.proto. The bound port is written to --port-file (atomically)
once the server is serving; --stats-file receives a JSON summary of what the
server saw when it stops (SIGTERM/SIGINT).

Modes (--mode) make the server misbehave in one precise way:
  normal       hold every Connect open; Publish fans out
  unavailable  Connect fails at once with UNAVAILABLE
  end-after    Connect streams end with OK after --after seconds
  oversize     each Connect stream gets one message larger than 4 MiB
"""
import asyncio
import json
import os
import time

from grpc_test_server import arguments, serve_until_signalled, stubs, write_atomic


async def serve(args, pb, pb_grpc, grpc):
    class Notifier(pb_grpc.NotifierServicer):
        def __init__(self):
            self.streams = {}
            self.next_id = 0
            self.connects = 0
            self.users = set()
            self.publishes = 0
            self.max_open = 0
            self.bad_requests = 0

        async def Connect(self, request, context):
            self.connects += 1
            self.users.add(request.user_id)
            if not request.user_id:
                self.bad_requests += 1
            if args.mode == "unavailable":
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    "no users today")
            # Initial metadata now: the client counts a user as connected
            # when the response headers arrive.
            await context.send_initial_metadata(())
            if args.mode == "oversize":
                yield pb.Notification(id=1, user_id=request.user_id,
                                      payload=b"x" * (4 * 1024 * 1024 + 10),
                                      sent_unix_nanos=time.time_ns())
                await asyncio.sleep(3600)
            queue = asyncio.Queue()
            key = object()
            self.streams[key] = (request.user_id, queue)
            self.max_open = max(self.max_open, len(self.streams))
            try:
                deadline = (time.monotonic() + args.after
                            if args.mode == "end-after" else None)
                while True:
                    timeout = None
                    if deadline is not None:
                        timeout = deadline - time.monotonic()
                        if timeout <= 0:
                            return
                    try:
                        payload = await asyncio.wait_for(queue.get(), timeout)
                    except asyncio.TimeoutError:
                        return
                    self.next_id += 1
                    yield pb.Notification(id=self.next_id,
                                          user_id=request.user_id,
                                          payload=payload,
                                          sent_unix_nanos=time.time_ns())
            finally:
                del self.streams[key]

        async def Publish(self, request, context):
            self.publishes += 1
            n = 0
            for user, queue in list(self.streams.values()):
                if not request.user_id or user == request.user_id:
                    queue.put_nowait(request.payload)
                    n += 1
            return pb.PublishReply(delivered=n)

    server = grpc.aio.server()
    svc = Notifier()
    pb_grpc.add_NotifierServicer_to_server(svc, server)
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    await serve_until_signalled(server, port, args.port_file)
    if args.stats_file:
        prefix_ok = all(u.startswith(args.user_prefix) for u in svc.users)
        write_atomic(args.stats_file, json.dumps({
            "connects": svc.connects, "unique_users": len(svc.users),
            "users_match_prefix": prefix_ok, "publishes": svc.publishes,
            "max_open": svc.max_open, "open_at_stop": len(svc.streams),
            "bad_requests": svc.bad_requests}))
    await server.stop(0)


def main():
    ap = arguments()
    ap.add_argument("--proto-dir", default="proto")
    ap.add_argument("--mode", default="normal",
                    choices=["normal", "unavailable", "end-after", "oversize"])
    ap.add_argument("--after", type=float, default=1.0)
    ap.add_argument("--user-prefix", default="user-")
    args = ap.parse_args()
    pb, pb_grpc = stubs(os.path.abspath(args.proto_dir), "notifier")
    import grpc
    asyncio.run(serve(args, pb, pb_grpc, grpc))


if __name__ == "__main__":
    main()
