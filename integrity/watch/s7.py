"""S7 (classic, protocol id 0x32) and S7CommPlus (0x72) on ISO-on-TCP: which requests change a CPU.

Input is one TPKT frame at a time (``stream.TpktFramer``); COTP data units are
joined until their last-unit flag, then the S7 PDU is classified.  Anything
that does not parse is skipped: a malformed PDU is never an exception here.
Reads, uploads, SZL and block lists are what our own checks do: they are not
events.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from drivers import s7_codes as c
from integrity.watch.events import Finding

MAX_COTP = 65536  # bound on a COTP unit being joined (an S7 PDU is at most ~1 kB)
_FILE = re.compile(rb"([0-9A-F]{2})(\d{5})([PAB])")
# S7CommPlus session objects: the null server session a CreateObject is sent to
S7PLUS_NULL_SESSION = 288


def _block(name: bytes) -> str:
    """'_0800001P' or '0800001P' -> 'OB1'; unknown shapes come back as text."""
    m = _FILE.search(name)
    if not m:
        return name.decode("latin-1", "replace").strip("\x00 ")
    kind = c.FILE_BLOCK_TYPES.get(m.group(1).decode(), f"type {m.group(1).decode()}")
    return f"{kind}{int(m.group(2))}"


class S7Decoder:
    """One TCP connection's S7 traffic (both directions share the download state)."""

    protocol = "s7"

    def __init__(self) -> None:
        self._cotp = {True: bytearray(), False: bytearray()}
        self._downloading: set[str] = set()  # blocks whose download-block was reported
        self._plus = S7PlusDecoder()

    def reset(self, from_client: bool) -> None:
        self._cotp[from_client].clear()

    def frame(self, tpkt: bytes, from_client: bool) -> list[Finding]:
        if len(tpkt) < 7:
            return []
        li = tpkt[4]
        if li < 2 or 5 + li > len(tpkt) or tpkt[5] & 0xF0 != 0xF0:
            return []  # connect/disconnect and other COTP units carry no S7 PDU
        buf = self._cotp[from_client]
        buf += tpkt[5 + li:]
        if len(buf) > MAX_COTP:
            buf.clear()
            return []
        if not tpkt[6] & 0x80:  # more data units follow
            return []
        pdu = bytes(buf)
        buf.clear()
        if not pdu:
            return []
        if pdu[0] == c.S7_PROTOCOL_ID:
            return self._s7(pdu, from_client)
        if pdu[0] == c.S7PLUS_PROTOCOL_ID:
            return self._plus.pdu(pdu, from_client)
        return []

    # -- classic S7 ----------------------------------------------------------------------
    def _s7(self, pdu: bytes, from_client: bool) -> list[Finding]:
        if len(pdu) < 10:
            return []
        rosctr = pdu[1]
        plen, dlen = struct.unpack_from(">HH", pdu, 6)
        hlen = 12 if rosctr in (c.ROSCTR_ACK, c.ROSCTR_ACK_DATA) else 10
        params = pdu[hlen:hlen + plen]
        data = pdu[hlen + plen:hlen + plen + dlen]
        if not params:
            return []
        if rosctr == c.ROSCTR_JOB:
            return self._job(params, from_client)
        if rosctr == c.ROSCTR_USERDATA and from_client:
            return self._userdata(params, data)
        return []

    def _job(self, p: bytes, from_client: bool) -> list[Finding]:
        fn = p[0]
        codes: dict[str, Any] = {"rosctr": c.ROSCTR_JOB, "function": fn}
        if fn == 0x05 and from_client:
            return [Finding("s7", "s7.write-var", _write_targets(p), codes)]
        if fn in (0x1A, 0x1B, 0x1C) and len(p) > 9:
            block = _block(p[9:9 + p[8]])
            op = c.FUNCTIONS[fn]
            if fn == 0x1B:
                # The CPU asks for a block in pieces: one event per block.
                if block in self._downloading:
                    return []
                if len(self._downloading) > 256:  # bounded against junk block names
                    self._downloading.clear()
                self._downloading.add(block)
            elif fn == 0x1C:
                self._downloading.discard(block)
            return [Finding("s7", f"s7.{op}", block, codes)]
        if fn == 0x28 and from_client and len(p) >= 11:
            return self._pi(p, codes)
        if fn == 0x29 and from_client:
            name = p[7:7 + p[6]] if len(p) > 7 else b""
            codes["pi_service"] = name.decode("latin-1", "replace")
            return [Finding("s7", "s7.plc-stop", "", codes)]
        return []

    def _pi(self, p: bytes, codes: dict[str, Any]) -> list[Finding]:
        (blen,) = struct.unpack_from(">H", p, 8)
        block = p[10:10 + blen]
        if 10 + blen >= len(p):
            return []
        nlen = p[10 + blen]
        name = p[11 + blen:11 + blen + nlen].decode("latin-1", "replace")
        codes["pi_service"] = name
        op = c.PI_SERVICES.get(name) or ("nc-service" if name.startswith("_N_") else "pi-service")
        if op == "plc-start":
            target = "cold restart" if b"C" in block else "warm restart"
        elif op in ("activate-block", "delete-block"):
            target = ", ".join(_block(m.group(0)) for m in _FILE.finditer(block))
        else:
            target = name if op == "pi-service" else ""
        return [Finding("s7", f"s7.{op}", target, codes)]

    def _userdata(self, p: bytes, data: bytes) -> list[Finding]:
        if len(p) < 8 or p[:3] != b"\x00\x01\x12":
            return []
        kind, group, sub = p[5] >> 4, p[5] & 0x0F, p[6]
        if kind != c.UD_TYPE_REQUEST:
            return []
        table = {c.UD_GROUP_PROGRAMMER: c.UD_PROGRAMMER_CHANGES,
                 c.UD_GROUP_SECURITY: c.UD_SECURITY_CHANGES,
                 c.UD_GROUP_TIME: c.UD_TIME_CHANGES}.get(group)
        op = table.get(sub) if table else None
        if op is None:
            return []
        codes = {"rosctr": c.ROSCTR_USERDATA, "group": group, "subfunction": sub}
        target = ""
        if group == c.UD_GROUP_PROGRAMMER and len(data) >= 8:
            target = _tis_targets(data)
        # A password or a clock does not change what a deep check hashes.
        return [Finding("s7", f"s7.{op}", target, codes,
                        change=group == c.UD_GROUP_PROGRAMMER)]


def _write_targets(p: bytes) -> str:
    """The addresses of a Write Var job: 'DB10.4 (2 bytes), M12 (1 bytes)'."""
    out: list[str] = []
    count, at = (p[1] if len(p) > 1 else 0), 2
    for _ in range(count):
        if at + 2 > len(p) or p[at] != 0x12:
            break
        spec = p[at + 2:at + 2 + p[at + 1]]
        at += 2 + p[at + 1]
        if len(spec) >= 10 and spec[0] == 0x10:  # S7ANY
            length, db, area = struct.unpack_from(">HHB", spec, 2)
            addr = int.from_bytes(spec[7:10], "big")
            where = f"DB{db}" if area == 0x84 else c.AREAS.get(area, f"area 0x{area:02X}")
            out.append(f"{where}{'.' if area == 0x84 else ''}{addr >> 3}"
                       + (f".{addr & 7}" if addr & 7 else "") + f" x{length}")
        else:
            out.append("symbolic address")
        if len(out) >= 8:
            out.append("...")
            break
    return ", ".join(out)


# Memory areas of programmer-command (TIS) items: M/I/Q by bit, byte, word, dword.
_TIS_AREAS = {0x00: "MX", 0x01: "MB", 0x02: "MW", 0x03: "MD", 0x10: "IX", 0x11: "IB",
              0x12: "IW", 0x13: "ID", 0x20: "QX", 0x21: "QB", 0x22: "QW", 0x23: "QD"}


def _tis_targets(data: bytes) -> str:
    """The addresses a modify/force job names: 'MD0, MW4, IX8.1'."""
    (psize,) = struct.unpack_from(">H", data, 4)
    at = 8 + psize
    if at + 2 > len(data):
        return ""
    (count,) = struct.unpack_from(">H", data, at)
    out = []
    for i in range(min(count, 8)):
        item = data[at + 2 + 6 * i:at + 8 + 6 * i]
        if len(item) < 6:
            break
        area, second, db, start = struct.unpack(">BBHH", item)
        name = _TIS_AREAS.get(area)
        if name is None:
            out.append(f"area 0x{area:02X}" + (f" DB{db}" if db else "") + f" {start}")
        elif name.endswith("X"):
            out.append(f"{name}{start}.{second}")  # bit areas carry the bit number here
        else:
            out.append(f"{name}{start}" + (f" x{second}" if second > 1 else ""))
    if count > len(out):
        out.append(f"+{count - len(out)} more")
    return ", ".join(out)


class S7PlusDecoder:
    """S7CommPlus requests, as far as the public descriptions let us classify them."""

    def __init__(self) -> None:
        self.session_seen = False

    def pdu(self, pdu: bytes, from_client: bool) -> list[Finding]:
        if not from_client or len(pdu) < 4:
            return []
        version, dlen = pdu[1], struct.unpack_from(">H", pdu, 2)[0]
        body = pdu[4:4 + dlen]
        if version == 0xFE:  # system event
            return []
        if version == 0x03 and body[:1] == b"\x20":
            body = body[33:]  # V3 integrity digest precedes the data
        if len(body) < 14 or body[0] != c.S7PLUS_OPCODE_REQUEST:
            return []
        fn = struct.unpack_from(">H", body, 3)[0]
        session = struct.unpack_from(">I", body, 9)[0]
        in_object = struct.unpack_from(">I", body, 14)[0] if len(body) >= 18 else None
        codes = {"version": version, "function": fn}
        if fn == 0x05B3 or (fn == 0x04CA and session == S7PLUS_NULL_SESSION):
            # InitSsl (then TLS, which we cannot read, or a plain session if the PLC
            # declines) or the CreateObject that opens a session: one event per connection.
            if self.session_seen:
                return []
            self.session_seen = True
            target = "TLS requested" if fn == 0x05B3 else ""
            return [Finding("s7plus", "s7plus.session-setup", target, codes, change=False)]
        if fn in (0x0542, 0x04F2) and in_object == session:
            return []  # setting up or refreshing the session object itself
        if fn == 0x04D4 and in_object in (0, session):
            return []  # closing the session
        if fn in c.S7PLUS_READS:
            return []
        name = c.S7PLUS_FUNCTIONS.get(fn)
        if name in ("set-variable", "set-multi-variables", "create-object", "delete-object",
                    "set-var-substreamed", "invoke"):
            target = f"object 0x{in_object:08X}" if in_object is not None else ""
            return [Finding("s7plus", f"s7plus.{name}", target, codes)]
        return [Finding("s7plus", "s7plus.unrecognised-write-class", f"function 0x{fn:04X}",
                        codes)]
