"""Logix data types as the controller lays them out in memory.

Atomic types carry their CIP type code; structures (UDTs and the built-in
STRING) are ``Template`` objects with a member layout computed the way Logix
does it: BOOLs packed into hidden SINT hosts, members aligned to their size,
the structure padded to 4 bytes (8 when it holds a 64-bit member).  The
template's *structure handle* is a CRC of that layout, so any change to a
member (added, retyped, reordered) changes the handle, as on a real controller.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field
from typing import Any

# name -> (CIP type code, size in bytes, struct format)
ATOMIC: dict[str, tuple[int, int, str]] = {
    "BOOL": (0xC1, 1, "<B"),
    "SINT": (0xC2, 1, "<b"),
    "INT": (0xC3, 2, "<h"),
    "DINT": (0xC4, 4, "<i"),
    "LINT": (0xC5, 8, "<q"),
    "USINT": (0xC6, 1, "<B"),
    "UINT": (0xC7, 2, "<H"),
    "UDINT": (0xC8, 4, "<I"),
    "ULINT": (0xC9, 8, "<Q"),
    "REAL": (0xCA, 4, "<f"),
    "LREAL": (0xCB, 8, "<d"),
    "DWORD": (0xD3, 4, "<I"),
}

STRUCT_BIT = 0x8000
STRING_TEMPLATE_ID = 0x0FCE  # the id Logix gives its predefined STRING type
STRING_LEN = 82


class ImageError(ValueError):
    """The controller image file is inconsistent (unknown type, bad value...)."""


@dataclass
class Member:
    name: str
    type_name: str
    type_code: int           # CIP code, or STRUCT_BIT | template id
    offset: int
    array: int = 0           # element count for array members, 0 for scalars
    bit: int | None = None   # BOOL members: bit in their hidden host
    hidden: bool = False     # BOOL host bytes Logix adds itself


@dataclass
class Template:
    name: str
    instance_id: int
    members: list[Member]
    size: int
    alignment: int
    wire_name: str = ""      # the name in the template data ("ASCIISTRING82" for STRING)
    handle: int = 0
    raw: bytes = b""         # what Template Read returns
    definition_words: int = 0
    member_index: dict[str, Member] = field(default_factory=dict)

    def finish(self) -> None:
        """Compute the Template Read bytes and the handle from the layout."""
        info = b"".join(struct.pack("<HHI", m.bit if m.bit is not None else m.array, m.type_code,
                                    m.offset) for m in self.members)
        names = (f"{self.wire_name or self.name};n\0".encode()
                 + b"".join(m.name.encode() + b"\0" for m in self.members))
        self.raw = info + names
        # pycomm3 reads (words * 4 - 21) bytes: make that cover the whole definition.
        self.definition_words = (len(self.raw) + 21 + 3) // 4
        self.handle = binascii.crc_hqx(self.raw + struct.pack("<I", self.size), 0xFFFF)
        self.member_index = {m.name: m for m in self.members}


def type_size_align(type_name: str, templates: dict[str, Template]) -> tuple[int, int]:
    if type_name in ATOMIC:
        size = ATOMIC[type_name][1]
        return size, size
    if type_name in templates:
        t = templates[type_name]
        return t.size, t.alignment
    raise ImageError(f"unknown data type {type_name!r}")


def type_code(type_name: str, templates: dict[str, Template]) -> int:
    if type_name in ATOMIC:
        return ATOMIC[type_name][0]
    return STRUCT_BIT | templates[type_name].instance_id


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def layout(name: str, instance_id: int, members: list[dict[str, Any]],
           templates: dict[str, Template]) -> Template:
    """Lay out a UDT from its declared members (dicts with name, type, optional dim)."""
    out: list[Member] = []
    offset = 0
    max_align = 1
    host: Member | None = None
    hosts = 0
    for decl in members:
        mname, mtype, dim = decl["name"], decl["type"], int(decl.get("dim", 0))
        if mtype == "BOOL" and not dim:
            if host is None or host.bit == 7:
                host = Member(f"ZZZZZZZZZZ{name}{hosts}", "SINT", ATOMIC["SINT"][0], offset,
                              hidden=True)
                host.bit = -1  # counts the bits handed out; reset below
                hosts += 1
                out.append(host)
                offset += 1
            host.bit += 1
            out.append(Member(mname, "BOOL", ATOMIC["BOOL"][0], host.offset, bit=host.bit))
            continue
        host = None
        size, align = type_size_align(mtype, templates)
        if dim and mtype == "BOOL":
            raise ImageError(f"UDT {name}: use DWORD for BOOL arrays ({mname})")
        align = min(align, 8)
        max_align = max(max_align, align)
        offset = _align(offset, align)
        out.append(Member(mname, mtype, type_code(mtype, templates), offset, array=dim))
        offset += size * (dim or 1)
    for m in out:
        if m.hidden:
            m.bit = None  # a host member is a plain SINT on the wire
    final_align = 8 if max_align == 8 else 4
    tpl = Template(name, instance_id, out, max(_align(offset, final_align), final_align),
                   final_align)
    tpl.finish()
    return tpl


def string_template() -> Template:
    tpl = Template("STRING", STRING_TEMPLATE_ID,
                   [Member("LEN", "DINT", ATOMIC["DINT"][0], 0),
                    Member("DATA", "SINT", ATOMIC["SINT"][0], 4, array=STRING_LEN)],
                   4 + STRING_LEN + 2, 4, wire_name="ASCIISTRING82")
    tpl.finish()
    return tpl


def encode_value(type_name: str, value: Any, templates: dict[str, Template], where: str) -> bytes:
    """Encode one element of ``type_name`` (no array) from its JSON value."""
    try:
        if type_name in ATOMIC:
            fmt = ATOMIC[type_name][2]
            if type_name in ("REAL", "LREAL"):
                return struct.pack(fmt, float(value or 0))
            return struct.pack(fmt, int(value or 0))
        tpl = templates[type_name]
        if tpl.instance_id == STRING_TEMPLATE_ID:
            text = (value or "").encode("iso-8859-1")[:STRING_LEN]
            return struct.pack("<i", len(text)) + text.ljust(tpl.size - 4, b"\0")
        buf = bytearray(tpl.size)
        for mname, mvalue in (value or {}).items():
            m = tpl.member_index.get(mname)
            if m is None or m.hidden:
                raise ImageError(f"{where}: {type_name} has no member {mname!r}")
            if m.bit is not None:
                if mvalue:
                    buf[m.offset] |= 1 << m.bit
                continue
            data = encode_elements(m.type_name, mvalue, m.array, templates, f"{where}.{mname}")
            buf[m.offset:m.offset + len(data)] = data
        return bytes(buf)
    except (struct.error, TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{where}: bad value {value!r} for {type_name}: {exc}") from exc


def encode_elements(type_name: str, value: Any, count: int, templates: dict[str, Template],
                    where: str) -> bytes:
    """Encode a scalar (count 0) or an array of ``count`` elements."""
    if not count:
        return encode_value(type_name, value, templates, where)
    values = list(value or [])
    if len(values) > count:
        raise ImageError(f"{where}: {len(values)} values for {count} elements")
    values += [None] * (count - len(values))
    return b"".join(encode_value(type_name, v, templates, f"{where}[{i}]")
                    for i, v in enumerate(values))

