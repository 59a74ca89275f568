"""CIP EPATH decoding and CIP reply building, for the Logix simulator."""

from __future__ import annotations

import struct

# General status codes the simulator answers with (CIP Vol 1, appendix B).
SUCCESS = 0x00
CONNECTION_FAILURE = 0x01
PATH_SEGMENT_ERROR = 0x04
PATH_UNKNOWN = 0x05
PARTIAL = 0x06
NOT_SUPPORTED = 0x08
PRIVILEGE = 0x0F
NOT_ENOUGH_DATA = 0x13
ATTR_NOT_SUPPORTED = 0x14
EMBEDDED_ERROR = 0x1E
GENERAL = 0xFF


class PathError(ValueError):
    pass


Segment = tuple[str, object]


def parse_epath(data: bytes) -> list[Segment]:
    """Decode padded EPATH bytes into ("class"|"instance"|"member"|"attribute"|
    "symbol"|"port", value) pairs."""
    out: list[Segment] = []
    i = 0
    logical = {0x00: "class", 0x04: "instance", 0x08: "member", 0x0C: "connection_point",
               0x10: "attribute"}
    try:
        while i < len(data):
            seg = data[i]
            if seg == 0x91:
                n = data[i + 1]
                name = data[i + 2:i + 2 + n]
                if len(name) != n:
                    raise PathError("truncated symbolic segment")
                out.append(("symbol", name.decode("iso-8859-1")))
                i += 2 + n + (n % 2)
            elif seg & 0xE0 == 0x20:
                kind = logical.get(seg & 0x1C)
                fmt = seg & 0x03
                if kind is None:
                    raise PathError(f"logical segment 0x{seg:02x}")
                if fmt == 0:
                    value, i = data[i + 1], i + 2
                elif fmt == 1:
                    value, i = struct.unpack_from("<H", data, i + 2)[0], i + 4
                elif fmt == 3:
                    value, i = struct.unpack_from("<I", data, i + 2)[0], i + 6
                else:
                    raise PathError(f"logical format 0x{seg:02x}")
                out.append((kind, value))
            elif seg & 0xE0 == 0x00:
                port = seg & 0x0F
                if seg & 0x10:
                    n = data[i + 1]
                    link: object = data[i + 2:i + 2 + n].decode("iso-8859-1")
                    i += 2 + n + (n % 2)
                else:
                    link = data[i + 1]
                    i += 2
                out.append(("port", (port, link)))
            else:
                raise PathError(f"segment type 0x{seg:02x}")
    except (IndexError, struct.error) as exc:
        raise PathError(f"truncated path: {exc}") from exc
    return out


def split_request(msg: bytes) -> tuple[int, list[Segment], bytes]:
    """A CIP request -> (service, path segments, request data).  Raises PathError."""
    if len(msg) < 2:
        raise PathError("request shorter than service and path size")
    service, words = msg[0], msg[1]
    path = msg[2:2 + words * 2]
    if len(path) != words * 2:
        raise PathError("path longer than the request")
    return service, parse_epath(path), msg[2 + words * 2:]


def first(segments: list[Segment], kind: str) -> object | None:
    for k, v in segments:
        if k == kind:
            return v
    return None


def reply(service: int, status: int = SUCCESS, data: bytes = b"", ext: tuple[int, ...] = ()) -> bytes:
    return (bytes([service | 0x80, 0, status, len(ext)])
            + b"".join(struct.pack("<H", e) for e in ext) + data)
