"""Modbus function codes shared by the driver's guard and the passive watcher."""

from __future__ import annotations

READ_FUNCTIONS = frozenset({1, 2, 3, 4, 43})
WRITE_FUNCTIONS = {5: "write-coil", 6: "write-register", 15: "write-coils",
                   16: "write-registers", 22: "mask-write-register",
                   23: "read-write-registers"}
DIAGNOSTICS = 8
# FC 8 sub-functions that restart the device or clear its counters and logs
DIAGNOSTIC_CHANGES = {0x01: "restart-communications", 0x0A: "clear-counters",
                      0x14: "clear-overrun-counter", 0x03: "change-ascii-delimiter",
                      0x04: "force-listen-only"}
ENCAPSULATED = 43
MEI_DEVICE_ID = 0x0E
