"""What a Logix request frame asks the controller to do, read from its bytes.

The read-only guard of ``drivers.logix`` runs on the exact EtherNet/IP frame
pycomm3 is about to put on the socket, so no pycomm3 code path (open, tag
upload, read, generic_message, write...) can slip a request past it.  Wrappers
are unwrapped: Unconnected Send and Multiple Service Packet are only allowed as
plumbing, and every service embedded in them is checked too.

An operation is a string: ``enip:0x65`` for an encapsulation command,
``cip:0x4c`` for a CIP service, ``cip:0x4e@0x06`` for a connection-manager
service (0x4E is Forward Close there, but Read-Modify-Write on a tag).
"""

from __future__ import annotations

import struct

ENIP_OPS = frozenset({"enip:0x63", "enip:0x65", "enip:0x66", "enip:0x6f", "enip:0x70"})
# Get_Attributes_All, Get_Attribute_List, Get_Attribute_Single, Get Instance Attribute
# List, Read Tag / Template Read, Read Tag Fragmented.
CIP_READ_OPS = frozenset({"cip:0x01", "cip:0x03", "cip:0x0e", "cip:0x55", "cip:0x4c", "cip:0x52"})
# Session and connection plumbing, allowed only on their own objects.
PLUMBING_OPS = frozenset({"cip:0x52@0x06", "cip:0x54@0x06", "cip:0x5b@0x06", "cip:0x4e@0x06",
                          "cip:0x0a@0x02"})
READ_OPERATIONS = ENIP_OPS | CIP_READ_OPS | PLUMBING_OPS
UNPARSEABLE = "unparseable-frame"  # never allowed: a frame we cannot read is not sent


class FrameError(ValueError):
    pass


def _path_class(path: bytes) -> int | None:
    """The first class id in a padded EPATH (None when the path names a tag)."""
    i = 0
    while i < len(path):
        seg = path[i]
        if seg == 0x91:
            n = path[i + 1]
            i += 2 + n + (n % 2)
        elif seg == 0x20:
            return path[i + 1]
        elif seg == 0x21:
            return struct.unpack_from("<H", path, i + 2)[0]
        elif seg in (0x24, 0x28, 0x30, 0x2C):
            i += 2
        elif seg in (0x25, 0x29, 0x31, 0x2D):
            i += 4
        elif seg in (0x26, 0x2A):
            i += 6
        elif seg < 0x20:  # port segment
            i += (2 + path[i + 1] + (path[i + 1] % 2)) if seg & 0x10 else 2
        else:
            raise FrameError(f"path segment 0x{seg:02x}")
    return None


def cip_operations(msg: bytes) -> list[str]:
    """Operations of one CIP request, wrappers first, embedded requests after."""
    if len(msg) < 2:
        raise FrameError("CIP request too short")
    service, words = msg[0], msg[1]
    path, data = msg[2:2 + words * 2], msg[2 + words * 2:]
    if len(path) != words * 2:
        raise FrameError("CIP path longer than the request")
    cls = _path_class(path)
    if cls == 0x06 and service in (0x52, 0x54, 0x5B, 0x4E):
        ops = [f"cip:0x{service:02x}@0x06"]
        if service == 0x52:
            n = struct.unpack_from("<H", data, 2)[0]
            ops += cip_operations(data[4:4 + n])
        return ops
    if cls == 0x02 and service == 0x0A:
        ops = ["cip:0x0a@0x02"]
        count = struct.unpack_from("<H", data, 0)[0]
        offsets = list(struct.unpack_from(f"<{count}H", data, 2)) + [len(data)]
        for i in range(count):
            ops += cip_operations(data[offsets[i]:offsets[i + 1]])
        return ops
    return [f"cip:0x{service:02x}"]


def frame_operations(frame: bytes) -> list[str]:
    """Every operation in one EtherNet/IP frame; [UNPARSEABLE] if it cannot be read."""
    try:
        command, length = struct.unpack_from("<HH", frame, 0)
        ops = [f"enip:0x{command:02x}"]
        if command not in (0x6F, 0x70):
            return ops
        body = frame[24:24 + length]
        count = struct.unpack_from("<H", body, 6)[0]
        pos = 8
        for _ in range(count):
            kind, n = struct.unpack_from("<HH", body, pos)
            item = body[pos + 4:pos + 4 + n]
            if kind == 0xB2:
                ops += cip_operations(item)
            elif kind == 0xB1:
                ops += cip_operations(item[2:])  # after the sequence count
            pos += 4 + n
        return ops
    except (struct.error, FrameError, IndexError):
        return [UNPARSEABLE]
