"""A tiny pcap / pcapng reader: just enough to pull S7 PDUs out of the shared captures.

Only Ethernet (optionally one 802.1Q tag) + IPv4 + TCP is understood; each TCP
payload is cut into TPKT frames per direction (frames that span segments are
joined), and COTP DT frames yield their S7 PDU.  No reassembly across lost
segments: the captures used here carry whole TPKT frames per segment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Pdu:
    index: int                      # position in the capture, for messages
    src: tuple[str, int]
    dst: tuple[str, int]
    data: bytes                     # the S7 PDU (starts with 0x32)


def _packets_pcap(raw: bytes) -> Iterator[bytes]:
    magic = raw[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    if linktype != 1:
        raise ValueError(f"pcap link type {linktype} is not Ethernet")
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[off + 8:off + 12])[0]
        yield raw[off + 16:off + 16 + incl]
        off += 16 + incl


def _packets_pcapng(raw: bytes) -> Iterator[bytes]:
    off = 0
    endian = "<"
    while off + 12 <= len(raw):
        btype = struct.unpack(endian + "I", raw[off:off + 4])[0]
        if btype == 0x0A0D0D0A:  # section header: learn the byte order
            endian = "<" if raw[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack(endian + "I", raw[off + 4:off + 8])[0]
        if blen < 12:
            raise ValueError(f"pcapng block at {off} has bad length {blen}")
        if btype == 6:  # enhanced packet block
            caplen = struct.unpack(endian + "I", raw[off + 20:off + 24])[0]
            yield raw[off + 28:off + 28 + caplen]
        elif btype == 3:  # simple packet block
            yield raw[off + 12:off + blen - 4]
        off += blen


def _tcp(frame: bytes) -> tuple[tuple[str, int], tuple[str, int], bytes] | None:
    if len(frame) < 14:
        return None
    ethertype = struct.unpack(">H", frame[12:14])[0]
    off = 14
    if ethertype == 0x8100:
        ethertype = struct.unpack(">H", frame[16:18])[0]
        off = 18
    if ethertype != 0x0800:
        return None
    ihl = (frame[off] & 0x0F) * 4
    total = struct.unpack(">H", frame[off + 2:off + 4])[0]
    if frame[off + 9] != 6:
        return None
    src_ip = ".".join(str(b) for b in frame[off + 12:off + 16])
    dst_ip = ".".join(str(b) for b in frame[off + 16:off + 20])
    tcp = off + ihl
    sport, dport = struct.unpack(">HH", frame[tcp:tcp + 4])
    doff = (frame[tcp + 12] >> 4) * 4
    payload = frame[tcp + doff:off + total]
    return (src_ip, sport), (dst_ip, dport), payload


def s7_pdus(path: str | Path) -> list[Pdu]:
    """Every S7 PDU in the capture, in capture order."""
    raw = Path(path).read_bytes()
    packets = _packets_pcapng(raw) if raw[:4] == b"\x0a\x0d\x0d\x0a" else _packets_pcap(raw)
    buffers: dict[tuple, bytearray] = {}
    out: list[Pdu] = []
    for frame in packets:
        parsed = _tcp(frame)
        if parsed is None or not parsed[2]:
            continue
        src, dst, payload = parsed
        buf = buffers.setdefault((src, dst), bytearray())
        if not buf and payload[:2] != b"\x03\x00":
            continue  # a segment whose start we never saw
        buf.extend(payload)
        while len(buf) >= 4:
            length = struct.unpack(">H", buf[2:4])[0]
            if buf[0] != 3 or length < 7:
                buf.clear()
                break
            if len(buf) < length:
                break
            tpkt = bytes(buf[:length])
            del buf[:length]
            cotp = tpkt[4:]
            if len(cotp) >= 3 and cotp[1] == 0xF0 and len(cotp) > 3 and cotp[3] == 0x32:
                out.append(Pdu(len(out), src, dst, cotp[3:]))
    return out


def szl_answers(pdus: list[Pdu], szl_id: int, index: int) -> list[bytes]:
    """Every one-PDU answer to a read of SZL ``szl_id`` ``index``, from its ID on
    (what ``S7Session.read_szl`` returns), in capture order."""
    out = []
    for pdu in pdus:
        d = pdu.data
        if d[1] != 0x07 or len(d) < 10:
            continue  # not USERDATA
        plen = struct.unpack(">H", d[6:8])[0]
        params, data = d[10:10 + plen], d[10 + plen:]
        if len(params) < 8 or params[5] >> 4 != 0x08 or (params[5] & 0x0F, params[6]) != (4, 1):
            continue  # not an answer of the SZL function group
        if data[:1] == b"\xff" and data[4:8] == struct.pack(">HH", szl_id, index):
            out.append(data[4:4 + struct.unpack(">H", data[2:4])[0]])
    return out
