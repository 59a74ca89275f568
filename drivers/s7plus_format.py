"""Turn S7CommPlus EXPLORE replies and session attributes into canonical values.

The object stream is parsed with the library's ``typeinfo.parse_object_list``
(the one it uses for the type-info container); everything we make of it lives
here, so it is tested against the real captures as well as the simulator.

Attribute ids and where each name comes from (``src``):

    id     name                     src
    233    TypeName                 Ids.cs (thomas-v2/S7CommPlusDriver), s7commplus
    529    TypeInfoModificationTime s7commplus (VARIABLE_TYPE_STRUCT_MODIFICATION_TIME,
                                    its refresh_caches_if_program_changed signal)
    2521   BlockNumber              Ids.cs, s7commplus (a UInt on the S7-1200 capture)
    2522   BlockLanguage/AutoNumber s7commplus calls 0x9DA BlockLanguage; Ids.cs calls
                                    2522 AutoNumbering and 2523 BlockLanguage.  Both are
                                    read; the conflict is unresolved without a live CPU.
    2523   BlockLanguage            Ids.cs
    2524   KnowhowProtected         Ids.cs, s7commplus (0x9DC): present = protected
    2527   Unlinked                 Ids.cs, s7commplus
    2529   RuntimeModified          Ids.cs
    2531   Dirty                    Ids.cs
    2532   CRC                      Ids.cs, s7commplus (0x9E4): the block checksum
    4578   TypeInfo                 Ids.cs, s7commplus (0x11E2)
    7589   FunctionalSignature      Ids.cs
    7831   AdditionalMAC            Ids.cs
    7955   FailsafeIFRHash          Ids.cs

The real S7-1200 capture also reports, on every object, 2453 (a timestamp) and
on OB1 2451 and 2543 (a second timestamp), names unknown: kept by number.

Every other attribute a CPU returns is kept too, under its number: a change
indicator we have not named still shows as drift.  Live values are left out
(DB_ValueActual 2550, DB_InitialChanged 2551, ControllerArea_ValueActual
3736, ControllerArea_RuntimeModified 3737) so a running process is not drift.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from typing import Any, Iterator

from s7commplus.connection import _parse_get_var_substreamed_response
from s7commplus.error import S7ConnectionError
from s7commplus.protocol import block_language_name, service_result_code
from s7commplus.typeinfo import PObject, parse_object_list
from s7commplus.vlq import decode_uint64_vlq

from integrity.canonical import sha256

ATTRIBUTE_NAMES = {
    233: "TypeName", 529: "TypeInfoModificationTime", 2521: "BlockNumber", 2522: "Attribute2522",
    2523: "BlockLanguage", 2524: "KnowhowProtected", 2527: "Unlinked", 2529: "RuntimeModified",
    2531: "Dirty", 2532: "CRC", 4578: "TypeInfo", 7589: "FunctionalSignature",
    7831: "AdditionalMAC", 7955: "FailsafeIFRHash",
}
LIVE_VALUES = frozenset({2550, 2551, 3736, 3737})
SIZE_ATTRIBUTE = 2  # the DB size the s7commplus emulator reports (not seen on a real CPU)

# ClassId -> block type.  Ids.cs: DB 2574, FB 2578, FC 2579, OB 2610.  2647: OB1 "Main"
# of the real S7-1200 (FW V2.2) in captures/s7plus/S7-1200-Uploading-OB1-TIAV12.pcap.
BLOCK_CLASSES = {2574: "DB", 2578: "FB", 2579: "FC", 2610: "OB", 2647: "OB"}
BLOCK_NUMBER = 2521
# Upload type codes (the classic S7 sub-block numbers s7commplus' upload_block takes)
UPLOAD_TYPES = {"OB": 0x08, "DB": 0x0A, "FC": 0x0C, "FB": 0x0E}
INLINE_LIMIT = 64  # attribute values longer than this are recorded by digest and size

START_OF_OBJECT = 0xA1
_PAOM = re.compile(r"^[^;]*;\s*(?P<order>[^;]*?)\s*;\s*(?P<fw>[VS]\d+(?:\.\d+)*)\s*$")


class S7PlusFormatError(ValueError):
    """A reply we cannot read as what it should be."""


def return_value(payload: bytes) -> int:
    value, _ = decode_uint64_vlq(payload, 0)
    return value


def objects(payload: bytes) -> list[PObject]:
    """The object tree of one EXPLORE reply payload (after the response header).

    Real CPUs put a 4-byte ExploreId between the ReturnValue and the first
    object (see the S7-1200 capture); the s7commplus emulator does not.
    """
    try:
        rv, off = decode_uint64_vlq(payload, 0)
        if rv != 0:
            raise S7PlusFormatError(f"EXPLORE answered error {rv:#x}")
        if off < len(payload) and payload[off] != START_OF_OBJECT:
            off += 4
        if off >= len(payload) or payload[off] != START_OF_OBJECT:
            raise S7PlusFormatError(f"no object at byte {off} of the EXPLORE reply")
        found, end = parse_object_list(payload, off)
    except S7PlusFormatError:
        raise
    except (ValueError, IndexError, AssertionError, struct.error, RecursionError) as exc:
        raise S7PlusFormatError(f"unreadable EXPLORE reply: {exc}") from exc
    return found


def walk(tree: list[PObject]) -> Iterator[PObject]:
    pending = list(reversed(tree))
    while pending:
        obj = pending.pop()
        yield obj
        pending.extend(reversed(obj.objects))


def text(raw: bytes) -> str:
    """A WString attribute: UTF-16-BE when it holds NULs, else one byte per
    character (the S7-1500 sends ASCII names that way; s7commplus does the same)."""
    if b"\x00" in raw and len(raw) % 2 == 0:
        return raw.decode("utf-16-be", errors="replace").rstrip("\x00")
    return raw.decode("utf-8", errors="replace").rstrip("\x00")


def attribute_value(attr: int, raw: bytes) -> Any:
    if attr == 233:  # names read as names in a diff
        return text(raw)
    if len(raw) > INLINE_LIMIT:
        return {"sha256": sha256(raw), "size": len(raw)}
    return raw.hex()


def indicators(obj: PObject) -> dict[str, Any]:
    """Every attribute of one object except live values, named where we know the name."""
    return {f"{ATTRIBUTE_NAMES.get(a, 'attribute')}:{a}": attribute_value(a, raw)
            for a, raw in sorted(obj.attributes.items()) if a not in LIVE_VALUES}


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if raw else 0


def is_block(obj: PObject) -> bool:
    # A class we do not know that carries a block number is still a block: listed
    # (as "class-<id>"), never dropped, so a new kind of block cannot hide.
    return obj.class_id in BLOCK_CLASSES or BLOCK_NUMBER in obj.attributes


def block_entry(obj: PObject) -> dict[str, Any]:
    """Name, number, type, language, know-how protection and change indicators."""
    block_type = BLOCK_CLASSES.get(obj.class_id, f"class-{obj.class_id}")
    attrs = obj.attributes
    number = _uint(attrs[2521]) if 2521 in attrs else obj.relation_id & 0xFFFF
    language = None
    for attr in (2523, 2522):
        if attr in attrs and len(attrs[attr]) in (1, 2):
            language = block_language_name(_uint(attrs[attr]))
            break
    return {"type": block_type, "number": number, "rid": f"{obj.relation_id:#010x}",
            "name": text(attrs[233]) if 233 in attrs else None, "language": language,
            "knowhow_protected": 2524 in attrs, "indicators": indicators(obj)}


def program_blocks(tree: list[PObject]) -> list[dict[str, Any]]:
    """Every OB, FB, FC and DB object of an EXPLORE(thePLCProgram) reply, sorted."""
    blocks = [block_entry(o) for o in walk(tree) if is_block(o)]
    dupes = sorted(k for k, n in Counter((b["type"], b["number"]) for b in blocks).items() if n > 1)
    if dupes:
        raise S7PlusFormatError(f"the program lists {dupes[0][0]} {dupes[0][1]} twice")
    return sorted(blocks, key=lambda b: (b["type"], b["number"]))


CODE_INDICATORS = frozenset({2529, 2531, 2532})  # RuntimeModified, Dirty, CRC: in the info


def interface(tree: list[PObject]) -> dict[str, Any]:
    """A block object's structure without live values: its attributes and its
    children's, recursively (names, types, offsets, type-info times).  The code
    checksum and run-time flags stay in the block's info, so a code-only change
    is not reported as an interface change too."""
    def node(obj: PObject) -> dict[str, Any]:
        attrs = {k: v for k, v in indicators(obj).items()
                 if int(k.rpartition(":")[2]) not in CODE_INDICATORS}
        out: dict[str, Any] = {"rid": f"{obj.relation_id:#010x}", "class": obj.class_id,
                               "attributes": attrs}
        if obj.varname_list:
            out["names"] = list(obj.varname_list)
        if obj.vartype_list:
            out["types"] = [repr(v) for v in obj.vartype_list]
        if obj.objects:
            out["children"] = [node(c) for c in obj.objects]
        return out
    return {"objects": [node(o) for o in tree]}


def upload_reply(payload: bytes) -> bytes | int:
    """The block image of an upload reply, or the CPU's error code when it refused."""
    rv = return_value(payload)
    if rv != 0:
        return service_result_code(rv)
    try:
        return _parse_get_var_substreamed_response(payload)
    except S7ConnectionError as exc:
        raise S7PlusFormatError(f"unreadable upload reply: {exc}") from exc


def identity(paom: str | None) -> dict[str, Any]:
    """Order number and firmware from the ServerSessionVersion device string
    (``"1;6ES7 511-1AK02-0AB0 ;V2.9"``)."""
    if paom is None:
        return {"order_number": None, "firmware": None, "device_string": None}
    match = _PAOM.match(paom)
    if not match:
        raise S7PlusFormatError(f"device string {paom!r} is not '<id>;<order number>;<firmware>'")
    return {"order_number": match["order"], "firmware": match["fw"], "device_string": paom}
