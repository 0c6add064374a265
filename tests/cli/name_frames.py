#!/usr/bin/python3
"""Writes a copy of a pprof profile in which every frame without a function
name is named as nprof names it: FILE+0xOFFSET, the mapped file's base name
and the address's place in the file (address - memory_start + file_offset).
Names that are only the location's own address ("0x7fd3b21018fd" or
"0x7fd3b21018fd@libgrpc.so", as older libnprof invented) count as none.

    tests/cli/name_frames.py IN OUT

go tool pprof -top on OUT must then print what nprof top --symbolize none
prints on IN (OUT's mappings all claim has_functions, so pprof does not
look for names of its own):
the tests compare the two line by line, and this script computes the
offsets on its own (python3-protobuf, the profile.proto of the tree
compiled with grpc_tools into a temporary directory), not with nprof's
code.
"""
import gzip
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto")


def profile_module(tmp):
    subprocess.run(["/usr/bin/python3", "-m", "grpc_tools.protoc",
                    "-I" + PROTO_DIR, "--python_out=" + tmp,
                    os.path.join(PROTO_DIR, "profile.proto")], check=True)
    sys.path.insert(0, tmp)
    import profile_pb2  # noqa: E402 (generated just now)
    return profile_pb2


def invented(name, address):
    m = re.fullmatch(r"0x([0-9a-fA-F]+)(@.*)?", name)
    return m is not None and address != 0 and int(m.group(1), 16) == address


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data = open(sys.argv[1], "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with tempfile.TemporaryDirectory() as tmp:
        pb = profile_module(tmp)
        p = pb.Profile()
        p.ParseFromString(data)
        strings = list(p.string_table)

        def intern(s):
            if s not in strings:
                strings.append(s)
            return strings.index(s)
        funcs = {f.id: f for f in p.function}
        maps = {m.id: m for m in p.mapping}
        by_name = {}
        next_id = max([f.id for f in p.function] + [0]) + 1
        for loc in p.location:
            names = [strings[funcs[ln.function_id].name]
                     if ln.function_id in funcs else "" for ln in loc.line]
            if names and not all(n == "" or invented(n, loc.address)
                                 for n in names):
                continue
            m = maps.get(loc.mapping_id)
            if m is None or not (m.memory_start <= loc.address and
                                 (m.memory_limit == 0 or
                                  loc.address < m.memory_limit)):
                continue  # "<unknown>" for both
            base = os.path.basename(strings[m.filename])
            name = "%s+0x%x" % (base, loc.address - m.memory_start +
                                m.file_offset)
            if name not in by_name:
                f = p.function.add(id=next_id, name=intern(name),
                                   system_name=intern(name))
                by_name[name] = f.id
                next_id += 1
            del loc.line[:]
            loc.line.add(function_id=by_name[name])
        # Every frame has its name now: pprof must not look for others.
        for m in p.mapping:
            m.has_functions = True
        del p.string_table[:]
        p.string_table.extend(strings)
        with open(sys.argv[2], "wb") as out:
            out.write(gzip.compress(p.SerializeToString()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
