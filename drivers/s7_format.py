"""Decoding of the S7-300/400 bytes the S7 driver reads: SZL records, block info
and uploaded load-memory block images.

Pure functions over bytes, no I/O: each raises ``S7FormatError`` (a ValueError)
with a message naming what was malformed; the driver turns it into
DeviceProtocolError for the device at hand.

Layouts, checked against a real CPU 315-2 PN/DP (../shared/captures/s7):
- an SZL answer is ID(2) index(2) LENTHDR(2) N_DR(2) then N_DR records of
  LENTHDR bytes each;
- a block image is a 36-byte header (0x70 0x70 ...), MC7 code, the interface
  (SBB), the ADD section and a 36-byte footer (author, family, name, version,
  0, checksum, 8 reserved); the header's length field equals the image length;
- a block-info answer is 6 bytes (01 00 00 4a 22 00), that same 36-byte header,
  then that same 36-byte footer: 78 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

S7_EPOCH = datetime(1984, 1, 1)
HEADER_LEN = 36
FOOTER_LEN = 36
BLOCK_INFO_LEN = 78

LANGUAGES = {0x00: "none", 0x01: "STL", 0x02: "LAD", 0x03: "FBD", 0x04: "SCL", 0x05: "DB",
             0x06: "GRAPH", 0x07: "SDB", 0x08: "CPU-DB", 0x11: "SDB-after-overall-reset",
             0x12: "SDB-config", 0x29: "ENCRYPT"}
SUB_BLOCK_TYPES = {0x08: "OB", 0x0A: "DB", 0x0B: "SDB", 0x0C: "FC", 0x0D: "SFC", 0x0E: "FB",
                   0x0F: "SFB"}
MODES = {0x00: "UNKNOWN", 0x01: "STOP-UPDATE", 0x02: "STOP-RESET", 0x03: "STOP", 0x04: "STOP",
         0x05: "STARTUP-COLD", 0x06: "STARTUP-WARM", 0x07: "STARTUP-HOT", 0x08: "RUN",
         0x09: "RUN-R", 0x0A: "HOLD", 0x0D: "DEFECT"}


class S7FormatError(ValueError):
    """Bytes from the device do not have the expected S7 layout."""


def _text(raw: bytes) -> str:
    # Device strings are NUL- or space-padded ASCII; latin-1 never fails.
    return raw.split(b"\x00", 1)[0].decode("latin-1").rstrip(" ")


def s7_time(raw: bytes) -> str:
    """Decode a 6-byte S7 time (UDINT ms since midnight, UINT days since
    1984-01-01) to an ISO string with milliseconds.  The CPU keeps local time
    without a zone, so none is invented here."""
    if len(raw) != 6:
        raise S7FormatError(f"S7 time must be 6 bytes, got {len(raw)}")
    ms, days = struct.unpack(">IH", raw)
    if ms >= 86_400_000:
        raise S7FormatError(f"S7 time has {ms} ms in a day")
    return (S7_EPOCH + timedelta(days=days, milliseconds=ms)).isoformat(timespec="milliseconds")


def szl_records(data: bytes, szl_id: int) -> tuple[int, list[bytes]]:
    """Split an SZL answer (starting at its ID) into (index, records).

    Raises S7FormatError when the ID differs or the lengths do not add up.
    """
    if len(data) < 8:
        raise S7FormatError(f"SZL 0x{szl_id:04X} answer is {len(data)} bytes, too short")
    got_id, index, rec_len, count = struct.unpack(">HHHH", data[:8])
    if got_id != szl_id:
        raise S7FormatError(f"asked for SZL 0x{szl_id:04X}, got 0x{got_id:04X}")
    body = data[8:]
    if rec_len == 0 or len(body) < rec_len * count:
        raise S7FormatError(f"SZL 0x{szl_id:04X}: {count} records of {rec_len} bytes "
                            f"announced, {len(body)} bytes received")
    return index, [body[i * rec_len:(i + 1) * rec_len] for i in range(count)]


def _by_index(records: list[bytes]) -> dict[int, bytes]:
    return {struct.unpack(">H", r[:2])[0]: r[2:] for r in records if len(r) >= 2}


def order_code(data: bytes) -> dict[str, Any]:
    """SZL 0x0011 (module identification): order number, firmware, boot loader.

    Records are index(2) MLFB(20) BGTyp(2) Ausbg(2) Ausbe(2).  Index 1 is the
    module, 6 the basic hardware, 7 the firmware ('V' x.y.z), 0x81 the boot
    loader.  The firmware is read from index 7: index 0x81 is the boot loader
    (Snap7's demo client prints that one, 32.9.9, as "Version").
    """
    _, records = szl_records(data, 0x0011)
    recs = _by_index(records)
    if 1 not in recs or len(recs[1]) < 26:
        raise S7FormatError("SZL 0x0011 has no module record (index 1)")

    def version(rec: bytes) -> str:
        prefix = chr(rec[22]) if 0x41 <= rec[22] <= 0x5A else ""
        return f"{prefix}{rec[23]}.{rec[24]}.{rec[25]}"

    out: dict[str, Any] = {"order_number": _text(recs[1][:20])}
    if 7 in recs and len(recs[7]) >= 26:
        out["firmware"] = version(recs[7])
    if 0x81 in recs and len(recs[0x81]) >= 26:
        out["boot_loader"] = version(recs[0x81])
    return out


_CPU_INFO_FIELDS = {1: "as_name", 2: "module_name", 3: "plant_id", 4: "copyright",
                    5: "serial", 7: "module_type", 8: "memory_card_serial"}


def cpu_info(data: bytes) -> dict[str, str]:
    """SZL 0x001C (component identification): 34-byte records, index + text."""
    _, records = szl_records(data, 0x001C)
    recs = _by_index(records)
    if 5 not in recs and 7 not in recs:
        raise S7FormatError("SZL 0x001C has neither serial (index 5) nor module type (index 7)")
    return {name: _text(recs[i]) for i, name in _CPU_INFO_FIELDS.items() if i in recs}


def _protection_record(data: bytes, szl_id: int) -> bytes:
    _, records = szl_records(data, szl_id)
    for rec in records:
        if len(rec) >= 12 and struct.unpack(">H", rec[:2])[0] == 4:
            return rec
    raise S7FormatError(f"SZL 0x{szl_id:04X} has no CPU protection record (index 4)")


def protection(data: bytes, szl_id: int = 0x0232) -> dict[str, int]:
    """SZL 0x0232 (or 0x0132) index 4 (protection): sch_schal, sch_par, sch_rel,
    bart_sch, anl_sch.  The checksums that follow in the same record are
    ``program_checksums``' business: this value stays what baselines hold."""
    values = struct.unpack(">HHHHH", _protection_record(data, szl_id)[2:12])
    return dict(zip(("sch_schal", "sch_par", "sch_rel", "bart_sch", "anl_sch"), values))


# ken_rel of a CPU whose version IDs/checksums below are valid (every CPU 315 capture).
CHECKSUMS_VALID = 0x5656


def program_checksums(data: bytes, szl_id: int = 0x0232) -> dict[str, Any]:
    """The CPU's own checksums over its blocks, from the same SZL 0x0232/0x0132
    index 4 record: after the five protection words come ken_f, ken_rel, then
    ken_ver1_hw, ken_ver2_hw, ken_ver1_awp, ken_ver2_awp and 16 reserved bytes.

    ``ver1`` is the XOR of the MC7 lengths, ``ver2`` the XOR of the block
    checksums, over the SDBs (hardware) and over OB/DB/FB/FC (program).  The
    four words are little-endian: on the TIA capture (OB 1, FB 1, DB 1, DB 2)
    bytes ``4a 1f`` are 206^7764^10^474 = 0x1F4A and ``44 01`` the XOR of the
    four block-info checksums, 0x0144.  Only ken_rel 0x5656 vouches for them;
    any other record, or one too short to hold them, is ``valid: false`` with
    no values, so a quick check knows it must read every block's info instead.
    """
    rec = _protection_record(data, szl_id)
    if len(rec) < 24:
        return {"valid": False, "ken_rel": None}
    ken_rel = struct.unpack(">H", rec[14:16])[0]
    if ken_rel != CHECKSUMS_VALID:
        return {"valid": False, "ken_rel": ken_rel}
    hw1, hw2, awp1, awp2 = struct.unpack("<HHHH", rec[16:24])
    return {"valid": True, "ken_rel": ken_rel,
            "hardware": {"mc7_size_xor": hw1, "checksum_xor": hw2},
            "program": {"mc7_size_xor": awp1, "checksum_xor": awp2}}


def operating_mode(data: bytes) -> dict[str, Any]:
    """SZL 0x0424 (current mode): record byte 3 is the mode (0x08 RUN, 0x03/0x04 STOP)."""
    _, records = szl_records(data, 0x0424)
    if not records or len(records[0]) < 4:
        raise S7FormatError("SZL 0x0424 has no mode record")
    code = records[0][3]
    return {"mode": MODES.get(code, f"0x{code:02X}"), "code": code}


def _version(b: int) -> str:
    return f"{b >> 4}.{b & 0x0F}"


def header_fields(header: bytes) -> dict[str, Any]:
    """The 36-byte block header (load-memory image and block info share it)."""
    if len(header) != HEADER_LEN or header[:2] != b"\x70\x70":
        raise S7FormatError("block header does not start with 70 70")
    (_, hversion, attribute, language, sub_type, number, length, security) = struct.unpack(
        ">HBBBBHII", header[:16])
    sbb, add, local, mc7 = struct.unpack(">HHHH", header[28:36])
    return {"header_version": hversion, "attribute": attribute,
            "language": LANGUAGES.get(language, f"0x{language:02X}"),
            "type": SUB_BLOCK_TYPES.get(sub_type, f"0x{sub_type:02X}"), "number": number,
            "load_size": length, "security": security, "code_date": s7_time(header[16:22]),
            "interface_date": s7_time(header[22:28]), "sbb_size": sbb, "add_size": add,
            "local_data": local, "mc7_size": mc7}


def footer_fields(footer: bytes) -> dict[str, Any]:
    if len(footer) != FOOTER_LEN:
        raise S7FormatError("block footer must be 36 bytes")
    return {"author": _text(footer[0:8]), "family": _text(footer[8:16]),
            "name": _text(footer[16:24]), "version": _version(footer[24]),
            "checksum": struct.unpack(">H", footer[26:28])[0]}


def block_info(data: bytes) -> dict[str, Any]:
    """Decode a 78-byte block-info answer (header and footer fields).

    Dates are decoded here from the raw 6-byte times; python-snap7's
    TS7BlockInfo squeezes them into a char field and loses them.
    """
    if len(data) != BLOCK_INFO_LEN:
        raise S7FormatError(f"block info must be {BLOCK_INFO_LEN} bytes, got {len(data)}")
    return {**header_fields(data[6:42]), **footer_fields(data[42:78])}


@dataclass(frozen=True)
class BlockImage:
    """An uploaded load-memory image split into its sections."""

    header: dict[str, Any]
    footer: dict[str, Any]
    mc7: bytes
    interface: bytes  # SBB: the block's declaration (a DB's structure)
    add: bytes


def split_image(image: bytes) -> BlockImage:
    """Raises S7FormatError unless header lengths and image length agree."""
    if len(image) < HEADER_LEN + FOOTER_LEN:
        raise S7FormatError(f"block image of {len(image)} bytes is shorter than header + footer")
    header = header_fields(image[:HEADER_LEN])
    if header["load_size"] != len(image):
        raise S7FormatError(f"block image is {len(image)} bytes but its header says "
                            f"{header['load_size']}")
    mc7_end = HEADER_LEN + header["mc7_size"]
    sbb_end = mc7_end + header["sbb_size"]
    add_end = sbb_end + header["add_size"]
    if add_end + FOOTER_LEN != len(image):
        raise S7FormatError("block image sections (MC7, interface, ADD) do not add up to its length")
    return BlockImage(header, footer_fields(image[-FOOTER_LEN:]), image[HEADER_LEN:mc7_end],
                      image[mc7_end:sbb_end], image[sbb_end:add_end])
