#!/usr/bin/python3
"""chat.Room (tests/loadgen/proto/chat.proto) on python3-grpcio (grpc.aio):
a gRPC server the project did not write, for loadgen's tests of any
method, metadata and TLS.

  Join   holds a server stream; sends --events Events first (each with
         at_unix_nanos, the latency field), then keeps the stream open
  Say    unary; answers at once (or after --say-delay seconds)

--token T requires 'authorization: Bearer T' on every call (else
UNAUTHENTICATED); --tls-cert/--tls-key serve TLS. The port goes to
--port-file (atomically) once serving; SIGTERM/SIGINT writes what the
server saw to --stats-file as JSON. Stubs are generated in-process (no
child process, so nothing inherits an LD_PRELOAD meant for this one)."""
import asyncio
import json
import os
import time

from grpc_test_server import arguments, serve_until_signalled, stubs, write_atomic

HERE = os.path.dirname(os.path.abspath(__file__))


async def serve(args):
    import grpc
    pb, pbg = stubs(os.path.join(HERE, "proto"), "chat")
    st = {"joins": 0, "open": 0, "max_open": 0, "names": set(), "ids": set(),
          "mismatched": 0, "bad_tags": 0, "says": 0, "say_from": set(),
          "say_first": None, "say_last": None, "unauthenticated": 0,
          "authorized": 0, "rooms": set()}

    async def check_auth(context):
        if args.token is None:
            return True
        md = dict(context.invocation_metadata())
        if md.get("authorization") == "Bearer " + args.token:
            st["authorized"] += 1
            return True
        st["unauthenticated"] += 1
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "missing bearer token")
        return False

    class Room(pbg.RoomServicer):
        async def Join(self, req, context):
            await check_auth(context)
            st["joins"] += 1
            st["names"].add(req.user.name)
            st["ids"].add(req.user.id)
            st["rooms"].add(req.room)
            if req.user.name != "u%d" % req.user.id:
                st["mismatched"] += 1
            if list(req.tags) != [1, req.user.id]:
                st["bad_tags"] += 1
            st["open"] += 1
            st["max_open"] = max(st["max_open"], st["open"])
            try:
                for i in range(args.events):
                    yield pb.Event(text="e%d" % i,
                                   at_unix_nanos=time.time_ns(),
                                   filler=b"f" * args.filler)
                await asyncio.Event().wait()  # held until the client goes
            finally:
                st["open"] -= 1

        async def Say(self, req, context):
            await check_auth(context)
            now = time.monotonic()
            st["says"] += 1
            st["say_from"].add(req.from_id)
            if st["say_first"] is None:
                st["say_first"] = now
            st["say_last"] = now
            if args.say_delay:
                await asyncio.sleep(args.say_delay)
            return pb.SayReply(seq=st["says"])

    server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 100000)])
    pbg.add_RoomServicer_to_server(Room(), server)
    addr = "%s:%d" % (args.host, args.port)
    if args.tls_cert:
        creds = grpc.ssl_server_credentials(
            [(open(args.tls_key, "rb").read(), open(args.tls_cert, "rb").read())])
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    await serve_until_signalled(server, port, args.port_file)
    await server.stop(0.5)
    if args.stats_file:
        write_atomic(args.stats_file, json.dumps({
            "joins": st["joins"], "max_open": st["max_open"],
            "unique_names": len(st["names"]), "unique_ids": len(st["ids"]),
            "min_id": min(st["ids"]) if st["ids"] else None,
            "max_id": max(st["ids"]) if st["ids"] else None,
            "names_match_ids": st["mismatched"] == 0, "tags_ok": st["bad_tags"] == 0,
            "rooms": sorted(st["rooms"]),
            "says": st["says"], "say_unique_from": len(st["say_from"]),
            "say_span_s": (st["say_last"] - st["say_first"]) if st["says"] else 0,
            "unauthenticated": st["unauthenticated"],
            "authorized": st["authorized"]}))


def main():
    ap = arguments()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--token")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--events", type=int, default=1)
    ap.add_argument("--filler", type=int, default=0)
    ap.add_argument("--say-delay", type=float, default=0)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
