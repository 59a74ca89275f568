"""Read Tag / Write Tag on the controller image: path resolution and value bytes.

A tag path is ``[Program:X] base [index...] [.member [index...]]...`` given as
symbolic segments (0x91) and member segments (0x28/0x29/0x2A), or the base as
a symbol instance (class 0x6B) on v21+ controllers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from simulators.logix import paths as P
from simulators.logix.image import ControllerImage, Tag
from simulators.logix.types import ATOMIC, STRUCT_BIT, type_size_align


class TagError(Exception):
    def __init__(self, status: int, message: str, ext: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.ext = ext


@dataclass
class TagAccess:
    tag: Tag
    offset: int          # byte offset of the addressed element in tag.data
    type_name: str
    available: int       # elements from offset to the end of the addressed array
    bit: int | None = None

    @classmethod
    def resolve(cls, image: ControllerImage, path: list) -> "TagAccess":
        segs = list(path)
        program = None
        if segs and segs[0][0] == "symbol" and str(segs[0][1]).startswith("Program:"):
            program = str(segs.pop(0)[1])[8:]
        if not segs:
            raise TagError(P.PATH_SEGMENT_ERROR, "empty tag path")
        kind, value = segs.pop(0)
        tag: Tag | None
        if kind == "symbol":
            tag = image.tag(program, str(value))
        elif kind == "class" and value == 0x6B and segs and segs[0][0] == "instance":
            tag = image.instances.get(int(segs.pop(0)[1]))  # type: ignore[arg-type]
        else:
            raise TagError(P.PATH_SEGMENT_ERROR, f"unexpected {kind} segment")
        if tag is None:
            raise TagError(P.PATH_UNKNOWN, f"no tag {value!r}")
        if tag.external_access == "None":
            raise TagError(P.PRIVILEGE, f"{tag.name}: external access None")
        acc = cls(tag, 0, tag.type_name, tag.elements)
        dims: tuple[int, ...] = tag.dims
        while segs:
            idx = []
            while segs and segs[0][0] == "member":
                idx.append(int(segs.pop(0)[1]))  # type: ignore[arg-type]
            if idx:
                acc._index(image, dims, idx)
                dims = ()
            if not segs:
                break
            kind, value = segs.pop(0)
            if kind != "symbol":
                raise TagError(P.PATH_SEGMENT_ERROR, f"unexpected {kind} segment")
            tpl = image.templates.get(acc.type_name)
            member = tpl.member_index.get(str(value)) if tpl else None
            if member is None or member.hidden or acc.bit is not None:
                raise TagError(P.PATH_UNKNOWN, f"no member {value!r} in {acc.type_name}")
            acc.offset += member.offset
            acc.type_name = member.type_name
            acc.bit = member.bit
            acc.available = member.array or 1
            dims = (member.array,) if member.array else ()
        return acc

    def _index(self, image: ControllerImage, dims: tuple[int, ...], idx: list[int]) -> None:
        if len(idx) != len(dims) or any(i < 0 or i >= d for i, d in zip(idx, dims)):
            raise TagError(P.GENERAL, f"index {idx} outside {list(dims)}", (0x2105,))
        linear = 0
        for i, d in zip(idx, dims):
            linear = linear * d + i
        size, _ = type_size_align(self.type_name, image.templates)
        self.offset += linear * size
        self.available -= linear

    def type_header(self, image: ControllerImage) -> bytes:
        if self.bit is not None:
            return struct.pack("<H", ATOMIC["BOOL"][0])
        if self.type_name in ATOMIC:
            return struct.pack("<H", ATOMIC[self.type_name][0])
        return b"\xa0\x02" + struct.pack("<H", image.templates[self.type_name].handle)


def read_tag(image: ControllerImage, acc: TagAccess, data: bytes, *, fragmented: bool,
             limit: int) -> tuple[int, bytes]:
    try:
        elements = struct.unpack_from("<H", data, 0)[0]
        offset = struct.unpack_from("<I", data, 2)[0] if fragmented else 0
    except struct.error as exc:
        raise TagError(P.NOT_ENOUGH_DATA, "read request too short") from exc
    if elements < 1 or elements > acc.available:
        raise TagError(P.GENERAL, f"{elements} elements from {acc.available}", (0x2105,))
    header = acc.type_header(image)
    if acc.bit is not None:
        return P.SUCCESS, header + bytes([(acc.tag.data[acc.offset] >> acc.bit) & 1])
    size, _ = type_size_align(acc.type_name, image.templates)
    value = bytes(acc.tag.data[acc.offset:acc.offset + size * elements])
    if not fragmented:
        return P.SUCCESS, header + value
    chunk = value[offset:offset + max(limit - len(header) - 8, 8)]
    more = offset + len(chunk) < len(value)
    return (P.PARTIAL if more else P.SUCCESS), header + chunk


def write_tag(image: ControllerImage, acc: TagAccess, data: bytes, *, fragmented: bool) -> None:
    if acc.tag.external_access == "Read Only":
        raise TagError(P.PRIVILEGE, f"{acc.tag.name}: external access Read Only")
    try:
        if data[:2] == b"\xa0\x02":
            handle, elements = struct.unpack_from("<HH", data, 2)
            pos = 6
            tpl = image.templates.get(acc.type_name)
            if tpl is None or tpl.handle != handle:
                raise TagError(P.GENERAL, "structure handle mismatch", (0x2107,))
        else:
            code, elements = struct.unpack_from("<HH", data, 0)
            pos = 4
            expected = ATOMIC["BOOL"][0] if acc.bit is not None else ATOMIC.get(
                acc.type_name, (STRUCT_BIT,))[0]
            if code != expected:
                raise TagError(P.GENERAL, "data type mismatch", (0x2107,))
        offset = 0
        if fragmented:
            offset = struct.unpack_from("<I", data, pos)[0]
            pos += 4
    except struct.error as exc:
        raise TagError(P.NOT_ENOUGH_DATA, "write request too short") from exc
    if elements < 1 or elements > acc.available:
        raise TagError(P.GENERAL, f"{elements} elements from {acc.available}", (0x2105,))
    payload = data[pos:]
    with image.lock:
        if acc.bit is not None:
            if not payload:
                raise TagError(P.NOT_ENOUGH_DATA, "no value")
            if payload[0]:
                acc.tag.data[acc.offset] |= 1 << acc.bit
            else:
                acc.tag.data[acc.offset] &= ~(1 << acc.bit) & 0xFF
            return
        size, _ = type_size_align(acc.type_name, image.templates)
        total = size * elements
        if fragmented:
            # Each fragment carries its own slice; the last may be short.
            payload = payload[:max(total - offset, 0)]
        else:
            if len(payload) < total:
                raise TagError(P.NOT_ENOUGH_DATA, "value shorter than the elements")
            # pycomm3 1.2.16 sends a single-tag write twice in one request: the
            # first copy is the request, the rest is tolerated and ignored.
            payload = payload[:total]
        start = acc.offset + offset
        acc.tag.data[start:start + len(payload)] = payload
