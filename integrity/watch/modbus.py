"""Modbus TCP requests that write: FC 5, 6, 15, 16, 22, 23, 21, FC 8 restarts and clears,
FC 43 other than device identification.  One MBAP frame at a time; a frame
that does not parse is skipped."""

from __future__ import annotations

import struct

from drivers import modbus_codes as m
from integrity.watch.events import Finding


class ModbusDecoder:
    protocol = "modbus"

    def reset(self, from_client: bool) -> None:
        """Nothing is carried between frames."""

    def frame(self, adu: bytes, from_client: bool) -> list[Finding]:
        if not from_client or len(adu) < 8:
            return []
        unit, fc, body = adu[6], adu[7], adu[8:]
        codes = {"unit": unit, "function": fc}
        if fc in m.READ_FUNCTIONS - {m.ENCAPSULATED} or fc & 0x80:
            return []
        target = ""
        if fc in (5, 6, 22) and len(body) >= 2:
            (addr,) = struct.unpack_from(">H", body)
            target = f"{'coil' if fc == 5 else 'holding'} {addr}"
        elif fc in (15, 16) and len(body) >= 4:
            addr, qty = struct.unpack_from(">HH", body)
            target = f"{'coils' if fc == 15 else 'holding'} {addr}-{addr + max(qty, 1) - 1}"
        elif fc == 23 and len(body) >= 8:
            addr, qty = struct.unpack_from(">HH", body, 4)
            target = f"holding {addr}-{addr + max(qty, 1) - 1}"
        if fc in m.WRITE_FUNCTIONS:
            return [Finding("modbus", f"modbus.{m.WRITE_FUNCTIONS[fc]}", f"unit {unit} {target}".strip(),
                            codes)]
        if fc == 21:
            return [Finding("modbus", "modbus.write-file-record", f"unit {unit}", codes)]
        if fc == m.DIAGNOSTICS and len(body) >= 2:
            (sub,) = struct.unpack_from(">H", body)
            name = m.DIAGNOSTIC_CHANGES.get(sub)
            if name is None:
                return []  # echo, counters, diagnostics: reads
            return [Finding("modbus", f"modbus.{name}", f"unit {unit}", {**codes, "subfunction": sub})]
        if fc == m.ENCAPSULATED and body[:1] and body[0] != m.MEI_DEVICE_ID:
            return [Finding("modbus", "modbus.encapsulated-write", f"unit {unit} MEI 0x{body[0]:02X}",
                            {**codes, "mei": body[0]})]
        return []
