"""Raw replies: MBAP framing, and strict parsing of FC 43 / MEI 14 (Read Device
Identification) replies.

pymodbus decodes these leniently (a truncated object becomes a shorter string,
extra bytes are ignored); an integrity checker must not hash half a vendor
string, so the raw reply is parsed here and anything inconsistent is refused.
Strings are kept byte-exact: {"hex": ..., "text": latin-1 decoded}, trailing
spaces and all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

MEI_DEVICE_ID = 0x0E
OBJECT_NAMES = {0x00: "vendor_name", 0x01: "product_code", 0x02: "major_minor_revision",
                0x03: "vendor_url", 0x04: "product_name", 0x05: "model_name",
                0x06: "user_application_name"}


class MalformedIdentity(ValueError):
    """The reply is not a well-formed FC 43/14 answer; the message says why."""


@dataclass(frozen=True)
class IdentityPage:
    read_code: int
    conformity: int
    more_follows: bool
    next_object_id: int
    objects: tuple[tuple[int, bytes], ...]


def parse_page(pdu: bytes) -> IdentityPage:
    """Parse one FC 43/14 reply PDU (function code first).  Raises MalformedIdentity."""
    if len(pdu) < 7:
        raise MalformedIdentity(f"reply of {len(pdu)} bytes is shorter than its 7-byte header")
    if pdu[0] != 0x2B or pdu[1] != MEI_DEVICE_ID:
        raise MalformedIdentity(f"reply is function {pdu[0]} / MEI {pdu[1]}, not 43/14")
    read_code, conformity, more, next_id, count = pdu[2], pdu[3], pdu[4], pdu[5], pdu[6]
    if more not in (0x00, 0xFF):
        raise MalformedIdentity(f"more-follows byte is 0x{more:02x}, not 0x00 or 0xFF")
    objects = []
    pos = 7
    for i in range(count):
        if pos + 2 > len(pdu):
            raise MalformedIdentity(f"object {i + 1} of {count} is missing")
        oid, length = pdu[pos], pdu[pos + 1]
        if pos + 2 + length > len(pdu):
            raise MalformedIdentity(f"object 0x{oid:02x} claims {length} bytes, "
                                    f"only {len(pdu) - pos - 2} follow")
        objects.append((oid, bytes(pdu[pos + 2:pos + 2 + length])))
        pos += 2 + length
    if pos != len(pdu):
        raise MalformedIdentity(f"{len(pdu) - pos} unexpected bytes after {count} objects")
    return IdentityPage(read_code, conformity, more == 0xFF, next_id, tuple(objects))


def object_key(oid: int) -> str:
    return f"0x{oid:02x}"


def object_value(oid: int, data: bytes) -> dict[str, str]:
    value = {"hex": data.hex(), "text": data.decode("latin-1")}
    if oid in OBJECT_NAMES:
        value["name"] = OBJECT_NAMES[oid]
    return value


def mbap_frames(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(transaction id, unit, PDU) of each complete MBAP frame at the start of ``data``;
    stops at the first thing that is not Modbus TCP (protocol id other than 0)."""
    pos = 0
    while pos + 8 <= len(data) and data[pos + 2:pos + 4] == b"\x00\x00":
        end = pos + 6 + int.from_bytes(data[pos + 4:pos + 6], "big")
        if end > len(data):
            return
        yield int.from_bytes(data[pos:pos + 2], "big"), data[pos + 6], data[pos + 7:end]
        pos = end


def holds_a_frame(data: bytes) -> bool:
    """True when ``data`` starts with at least one complete MBAP frame: the peer answered.
    Bytes that stop short of a frame's announced length are a reply still waiting
    for its end, which is a timeout once the peer falls silent, not a malformed reply."""
    return next(mbap_frames(data), None) is not None


def looks_like_modbus(data: bytes) -> bool:
    """False when what a peer sent cannot be the start of a Modbus TCP reply (an HTTP
    server, an SSH banner): the protocol id, bytes 2-3, is always zero."""
    return len(data) < 4 or data[2:4] == b"\x00\x00"
