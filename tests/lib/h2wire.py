"""The tests' one HTTP/2 frame builder, for the raw clients and servers that
do one precise thing on the wire (tests/loadgen/raw_h2_server.py,
tests/notifier/harness.py's stalled client). Standard library only."""
import struct

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    """One frame: 24-bit length, type, flags, stream id, payload."""
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) +
            struct.pack(">I", stream) + payload)


def hpack_literal(name, value):
    """A header field without indexing, new name, no Huffman (RFC 7541
    6.2.2): no dynamic table state on either side."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def varint(v):
    """A protobuf varint."""
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | 0x80]) if v else bytes([b])
        if not v:
            return out


def grpc_message(body, compressed=False):
    """A gRPC length-prefixed message."""
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(body)) + body
