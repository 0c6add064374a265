"""What the python3-grpcio servers of the tests (chat_server.py,
notifier_server.py) share: the flags the test scripts drive them with,
stubs generated in-process, the port written atomically once serving, and
serving until SIGTERM or SIGINT."""
import argparse
import asyncio
import importlib
import os
import signal
import sys
import tempfile


def arguments():
    """An argument parser with the flags every test server takes: where to
    listen (--port 0: any free one), where to say the port once serving,
    and where to write its stats when stopped."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--stats-file")
    return ap


def stubs(proto_dir, name):
    """NAME_pb2 and NAME_pb2_grpc, generated from PROTO_DIR/NAME.proto in
    this process (no child process, so nothing inherits an LD_PRELOAD meant
    for this one) into a temporary folder removed once they are imported."""
    from grpc_tools import protoc
    import pkg_resources
    inc = pkg_resources.resource_filename("grpc_tools", "_proto")
    with tempfile.TemporaryDirectory(prefix=name + "-stubs-") as out:
        rc = protoc.main(["protoc", "-I" + proto_dir, "-I" + inc,
                          "--python_out=" + out, "--grpc_python_out=" + out,
                          os.path.join(proto_dir, name + ".proto")])
        if rc != 0:
            sys.exit("protoc failed on %s.proto" % name)
        sys.path.insert(0, out)
        try:
            return (importlib.import_module(name + "_pb2"),
                    importlib.import_module(name + "_pb2_grpc"))
        finally:
            sys.path.remove(out)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def serve_until_signalled(server, port, port_file):
    """Starts server (bound to port), writes the port to port_file, and
    returns when SIGTERM or SIGINT arrives; the caller stops the server."""
    await server.start()
    write_atomic(port_file, "%d\n" % port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
