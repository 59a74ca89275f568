"""Build and take apart S7-300/400 load-memory block images for the simulator.

An image is what ``full_upload`` returns from a real CPU: a 36-byte header
(70 70, version, attribute, language, sub-block type, number, load length,
security, code and interface time stamps, SBB/ADD/local-data/MC7 lengths), the
MC7 code (a DB's values), the interface (SBB), the ADD section and a 36-byte
footer (author, family, name, version, 0, checksum, 8 reserved).  The layout was
checked against a real CPU 315-2 PN/DP (../shared/captures/s7).

Written independently of drivers/s7_format.py on purpose: the simulator must not
share the driver's understanding of the bytes, or a shared mistake would pass.

The real checksum algorithm is not public; ``checksum`` is our own CRC-16,
applied consistently: images built here carry it in the footer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

EPOCH = datetime(1984, 1, 1)
TYPE_CODES = {"OB": 0x38, "DB": 0x41, "SDB": 0x42, "FC": 0x43, "SFC": 0x44, "FB": 0x45, "SFB": 0x46}
SUB_TYPES = {"OB": 0x08, "DB": 0x0A, "SDB": 0x0B, "FC": 0x0C, "FB": 0x0E}
LANGUAGE_CODES = {"STL": 0x01, "LAD": 0x02, "FBD": 0x03, "SCL": 0x04, "DB": 0x05, "GRAPH": 0x06,
                  "SDB": 0x07}
_TYPES_BY_SUB = {v: k for k, v in SUB_TYPES.items()}


def checksum(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of the MC7 and interface: the simulator's block checksum."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def s7_time(ts: datetime) -> bytes:
    delta = ts - EPOCH
    ms = (delta.seconds * 1000) + delta.microseconds // 1000
    return struct.pack(">IH", ms, delta.days)


def _text(s: str) -> bytes:
    return s.encode("latin-1")[:8].ljust(8, b"\x00")


def build(block_type: str, number: int, mc7: bytes, *, interface: bytes = b"", add: bytes = b"",
          language: str = "STL", author: str = "", family: str = "", name: str = "",
          version: str = "1.0", code_date: datetime = datetime(2023, 1, 1),
          interface_date: datetime = datetime(2023, 1, 1), local_data: int = 0,
          attribute: int = 0x01, security: int = 0) -> bytes:
    """A complete load-memory image whose footer checksum covers MC7 + interface."""
    if block_type not in SUB_TYPES:
        raise ValueError(f"cannot build a {block_type} image (SFC/SFB live in the firmware)")
    if len(mc7) > 0xFFFF or len(interface) > 0xFFFF or len(add) > 0xFFFF:
        raise ValueError("MC7, interface and ADD must each be at most 65,535 bytes")
    major, _, minor = version.partition(".")
    length = 36 + len(mc7) + len(interface) + len(add) + 36
    header = (b"\x70\x70" + bytes((0x01, attribute, LANGUAGE_CODES[language], SUB_TYPES[block_type]))
              + struct.pack(">HII", number, length, security) + s7_time(code_date)
              + s7_time(interface_date)
              + struct.pack(">HHHH", len(interface), len(add), local_data, len(mc7)))
    footer = (_text(author) + _text(family) + _text(name)
              + bytes(((int(major) << 4) | int(minor or 0), 0))
              + struct.pack(">H", checksum(mc7 + interface)) + bytes(8))
    return header + mc7 + interface + add + footer


@dataclass
class Block:
    """A block held by the simulator: its image, cut where its header says."""

    image: bytes

    @property
    def type(self) -> str:
        return _TYPES_BY_SUB[self.image[5]]

    @property
    def number(self) -> int:
        return int(struct.unpack(">H", self.image[6:8])[0])

    @property
    def mc7_span(self) -> tuple[int, int]:
        mc7_len = struct.unpack(">H", self.image[34:36])[0]
        return 36, 36 + mc7_len

    @property
    def language(self) -> int:
        return self.image[4]

    def info(self) -> bytes:
        """The 78-byte block-info answer a real CPU gives: a fixed 6-byte lead,
        then the image's own header and footer, so info is derived from the bytes."""
        return b"\x01\x00\x00\x4a\x22\x00" + self.image[:36] + self.image[-36:]

    def with_mc7(self, mc7: bytes) -> "Block":
        """Same header and footer (so the same block info), other MC7 bytes."""
        start, end = self.mc7_span
        if len(mc7) != end - start:
            raise ValueError(f"MC7 of {self.type} {self.number} is {end - start} bytes, got {len(mc7)}")
        return Block(self.image[:start] + mc7 + self.image[end:])


def validate(image: bytes) -> Block:
    """Refuse an image whose header and length disagree (a broken download)."""
    if len(image) < 72 or image[:2] != b"\x70\x70" or image[5] not in _TYPES_BY_SUB:
        raise ValueError("not an S7 block image")
    length = struct.unpack(">I", image[8:12])[0]
    sbb, add, _, mc7 = struct.unpack(">HHHH", image[28:36])
    if length != len(image) or 72 + sbb + add + mc7 != len(image):
        raise ValueError("S7 block image lengths do not add up")
    return Block(bytes(image))
