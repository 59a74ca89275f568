"""What a Logix request frame asks the controller to do, read from its bytes.

The read-only guard of ``drivers.logix`` runs on the exact EtherNet/IP frame
pycomm3 is about to put on the socket, so no pycomm3 code path (open, tag
upload, read, generic_message, write...) can slip a request past it.  Wrappers
are unwrapped: Unconnected Send and Multiple Service Packet are only allowed as
plumbing, and every service embedded in them is checked too.

An operation is a string naming the service and, where the service's meaning
depends on it, the object it is addressed to:

  ``enip:0x65``        an encapsulation command
  ``cip:0x0e``         a common service (CIP Vol 1 appendix A, 0x01-0x31): it means
                       the same on every object, so the object is left out
  ``cip:0x4c@tag``     an object-specific service (0x32 and up) on a tag (a path of
                       symbolic segments naming no class)
  ``cip:0x4c@0x6c``    an object-specific service on a class (``@0x68/0x6d`` for a
                       nested path); ``@none`` when the path names no object

Object-specific services mean different things on different objects: 0x4C is
Read Tag on a tag, Read Template on 0x6C, but Initiate_Download on the File
object 0x37 and Open_Connection on 0xF3; 0x52 is Read Tag Fragmented on a tag
and Unconnected Send on the connection manager 0x06.  So they are allowed only
on the objects where they read.
"""

from __future__ import annotations

import struct

ENIP_OPS = frozenset({"enip:0x63", "enip:0x65", "enip:0x66", "enip:0x6f", "enip:0x70"})
# Get_Attributes_All, Get_Attribute_List, Get_Attribute_Single: common services, reads
# on every object by the CIP spec.
CIP_GET_ATTRIBUTE_OPS = frozenset({"cip:0x01", "cip:0x03", "cip:0x0e"})
# Logix object-specific reads: Read Tag and Read Tag Fragmented on a tag (by name, or by
# instance of the Symbol object 0x6B), Read Template on 0x6C, Get Instance Attribute
# List on the Symbol object.
CIP_OBJECT_READ_OPS = frozenset({"cip:0x4c@tag", "cip:0x4c@0x6b", "cip:0x52@tag", "cip:0x52@0x6b",
                                 "cip:0x4c@0x6c", "cip:0x55@0x6b"})
# Session and connection plumbing, allowed only on their own objects: Unconnected Send,
# Forward Open, Large Forward Open, Forward Close on the connection manager 0x06;
# Multiple Service Packet on the Message Router 0x02.
PLUMBING_OPS = frozenset({"cip:0x52@0x06", "cip:0x54@0x06", "cip:0x5b@0x06", "cip:0x4e@0x06",
                          "cip:0x0a@0x02"})
READ_OPERATIONS = ENIP_OPS | CIP_GET_ATTRIBUTE_OPS | CIP_OBJECT_READ_OPS | PLUMBING_OPS
UNPARSEABLE = "unparseable-frame"  # never allowed: a frame we cannot read is not sent
FIRST_OBJECT_SPECIFIC = 0x32


class FrameError(ValueError):
    pass


def path_target(path: bytes) -> str:
    """The object a padded EPATH addresses: "0x6c" (its class), "tag" (symbolic
    segments and no class) or "none".  A nested path (Rockwell's program ->
    routine paths) names its classes in order, "0x68/0x6d": no read this driver
    needs looks like that, so no object-specific service on one is allowed.

    Raises FrameError for segments this parser does not know.
    """
    classes: list[int] = []
    symbolic = False
    i = 0
    while i < len(path):
        seg = path[i]
        if seg == 0x91:
            n = path[i + 1]
            if i + 2 + n > len(path):
                raise FrameError("truncated symbolic segment")
            symbolic = True
            i += 2 + n + (n % 2)
        elif seg == 0x20:
            classes.append(path[i + 1])
            i += 2
        elif seg == 0x21:
            classes.append(struct.unpack_from("<H", path, i + 2)[0])
            i += 4
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
    if i != len(path):
        raise FrameError("truncated path")
    if classes:
        return "/".join(f"0x{c:02x}" for c in classes)
    return "tag" if symbolic else "none"


def operation(service: int, target: str) -> str:
    """The operation name of ``service`` addressed to ``target`` (see the module docstring)."""
    if service < FIRST_OBJECT_SPECIFIC:
        return f"cip:0x{service:02x}"
    return f"cip:0x{service:02x}@{target}"


def cip_operations(msg: bytes) -> list[str]:
    """Operations of one CIP request, wrappers first, embedded requests after."""
    if len(msg) < 2:
        raise FrameError("CIP request too short")
    service, words = msg[0], msg[1]
    path, data = msg[2:2 + words * 2], msg[2 + words * 2:]
    if len(path) != words * 2:
        raise FrameError("CIP path longer than the request")
    target = path_target(path)
    if target == "0x06" and service in (0x52, 0x54, 0x5B, 0x4E):
        ops = [f"cip:0x{service:02x}@0x06"]
        if service == 0x52:
            n = struct.unpack_from("<H", data, 2)[0]
            if 4 + n > len(data):
                raise FrameError("Unconnected Send shorter than its embedded request")
            ops += cip_operations(data[4:4 + n])
        return ops
    if target == "0x02" and service == 0x0A:
        ops = ["cip:0x0a@0x02"]
        count = struct.unpack_from("<H", data, 0)[0]
        offsets = list(struct.unpack_from(f"<{count}H", data, 2)) + [len(data)]
        for i in range(count):
            ops += cip_operations(data[offsets[i]:offsets[i + 1]])
        return ops
    return [operation(service, target)]


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
