"""The program an S7-1500 simulator serves, and its EXPLORE encoding.

An image (``images/<plant>/<name>.json``, protocol ``s7plus``) lists the
blocks: type (OB, FB, FC, DB), number, name, language, ``code`` (a text whose
UTF-8 bytes are the uploadable image, or ``code_hex``: the image in hex), optional
``knowhow_protected``, and for DBs ``size``, ``variables`` ({name: [type, offset]}),
``values`` (hex) and ``instance_of`` (an FB's name: an instance DB).

Change indicators are regenerated the way a CPU does when a block is loaded:
``CRC`` (attribute 2532) is the CRC-32 of the block image, and the type-info
modification time (attribute 529) moves to "now" whenever the block's
interface changes; a DB value written at run time changes neither.

Ids that come from public sources (thomas-v2/S7CommPlusDriver Ids.cs): block
ClassIds DB 2574, FB 2578, FC 2579, OB 2610; PLCProgram 2520; attributes 233,
2521, 2523, 2524, 2532, 529.  The relation ids of FB/FC/OB (area 0x8A12..14),
the interface members' attributes and the theCPUcommon attributes are this
simulator's own choice: no public capture shows them.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from s7commplus.codec import encode_typed_value
from s7commplus.protocol import BlockLanguage, DataType
from s7commplus.server import DataBlock
from s7commplus.vlq import encode_uint32_vlq

CLASS_IDS = {"DB": 2574, "FB": 2578, "FC": 2579, "OB": 2610}
AREAS = {"DB": 0x8A0E, "FB": 0x8A12, "FC": 0x8A13, "OB": 0x8A14}
UPLOAD_CODES = {0x08: "OB", 0x0A: "DB", 0x0C: "FC", 0x0E: "FB"}
PLC_PROGRAM_RID, PLC_PROGRAM_CLASS = 3, 2520
CPU_COMMON_RID = 50
START, END, ATTR = 0xA1, 0xA2, 0xA3
# The simulator's own attribute ids for theCPUcommon (no public source names them).
# Its TypeName (233) is the object's name, as on the real S7-1200 ("ASRoot", "PLCProgram").
CPU_COMMON_ATTRS = {"serial": 7000, "hardware": 7001, "module_name": 7005}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _epoch_us(text: str | None) -> int:
    ts = datetime.fromisoformat(text) if text else datetime(2026, 1, 1, tzinfo=timezone.utc)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    # Integer arithmetic: a float timestamp loses the last microsecond of some times,
    # and a restore drill must serve back exactly the time a baseline recorded.
    return (ts - EPOCH) // timedelta(microseconds=1)


def _code(spec: dict[str, Any]) -> bytes:
    return bytes.fromhex(spec["code_hex"]) if "code_hex" in spec else spec.get("code", "").encode()


@dataclass
class Block:
    type: str
    number: int
    name: str
    language: str
    code: bytes
    knowhow_protected: bool = False
    variables: dict[str, tuple[str, int]] = field(default_factory=dict)
    instance_of: str | None = None
    interface_time: int = 0  # microseconds since 1970, attribute 529

    @property
    def rid(self) -> int:
        return (AREAS[self.type] << 16) | self.number

    @property
    def crc(self) -> int:
        return zlib.crc32(self.code + repr(sorted(self.variables.items())).encode())

    def interface_key(self) -> Any:
        return (sorted(self.variables.items()), self.instance_of)


def _attr(attr_id: int, datatype: int, value: Any) -> bytes:
    return bytes([ATTR]) + encode_uint32_vlq(attr_id) + b"\x00" + encode_typed_value(datatype, value)


def _open(rid: int, class_id: int) -> bytes:
    return bytes([START]) + struct.pack(">I", rid) + encode_uint32_vlq(class_id) + b"\x00\x00"


class Program:
    """The CPU's blocks and DB memory, thread-safe."""

    def __init__(self, image: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.identity = dict(image.get("identity", {}))
        self.blocks: dict[tuple[str, int], Block] = {}
        self.memory: dict[int, DataBlock] = {}
        for spec in image["blocks"]:
            block = Block(spec["type"], int(spec["number"]), spec["name"], spec["language"],
                          _code(spec), bool(spec.get("knowhow_protected")),
                          {k: (v[0], int(v[1])) for k, v in spec.get("variables", {}).items()},
                          spec.get("instance_of"), _epoch_us(spec.get("interface_time")))
            self.blocks[(block.type, block.number)] = block
            if block.type == "DB":
                db = DataBlock(block.number, int(spec.get("size", 16)))
                for name, (type_name, offset) in block.variables.items():
                    db.add_variable(name, type_name, offset)
                db.data[:] = bytes.fromhex(spec.get("values", "")).ljust(len(db.data), b"\0")
                self.memory[block.number] = db

    # -- what a download does ------------------------------------------------------
    def load(self, block: Block, *, now: datetime | None = None) -> None:
        """Load (download) a block: its CRC follows the image; its type-info time
        moves only when the interface changed, as on a CPU."""
        with self.lock:
            old = self.blocks.get((block.type, block.number))
            if old is None or old.interface_key() != block.interface_key():
                block.interface_time = _epoch_us((now or datetime.now(timezone.utc)).isoformat())
            else:
                block.interface_time = old.interface_time
            self.blocks[(block.type, block.number)] = block

    def find(self, type_name: str, number: int) -> Block | None:
        with self.lock:
            return self.blocks.get((type_name, number))

    def by_rid(self, rid: int) -> Block | None:
        with self.lock:
            return next((b for b in self.blocks.values() if b.rid == rid), None)

    # -- EXPLORE encoding ------------------------------------------------------------
    def block_object(self, block: Block, *, members: bool) -> bytes:
        out = bytearray(_open(block.rid, CLASS_IDS[block.type]))
        out += _attr(233, DataType.WSTRING, block.name)
        out += _attr(2521, DataType.UDINT, block.number)
        out += _attr(2523, DataType.UINT, int(BlockLanguage[block.language]))
        if block.knowhow_protected:
            out += _attr(2524, DataType.USINT, 1)
        out += _attr(2532, DataType.UDINT, block.crc)
        out += _attr(529, DataType.TIMESTAMP, block.interface_time)
        if block.type == "DB":
            out += _attr(2, DataType.UDINT, len(self.memory[block.number].data))
            if block.instance_of:
                out += _attr(7002, DataType.WSTRING, block.instance_of)
        if members:
            for index, (name, (type_name, offset)) in enumerate(sorted(block.variables.items()), 1):
                out += _open(index, 0)
                out += _attr(233, DataType.WSTRING, name)
                out += _attr(7003, DataType.WSTRING, type_name)
                out += _attr(7004, DataType.UDINT, offset)
                out.append(END)
        out.append(END)
        return bytes(out)

    def program_object(self) -> bytes:
        with self.lock:
            blocks = sorted(self.blocks.values(), key=lambda b: (b.type, b.number))
            body = b"".join(self.block_object(b, members=False) for b in blocks)
        return _open(PLC_PROGRAM_RID, PLC_PROGRAM_CLASS) + _attr(233, DataType.WSTRING, "PLC program") \
            + body + bytes([END])

    def cpu_common_object(self) -> bytes:
        out = bytearray(_open(CPU_COMMON_RID, 0x88A))
        out += _attr(233, DataType.WSTRING, "CPUcommon")
        for key, attr_id in CPU_COMMON_ATTRS.items():
            out += _attr(attr_id, DataType.WSTRING, str(self.identity.get(key, "")))
        out.append(END)
        return bytes(out)
