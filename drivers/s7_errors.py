"""S7 error codes a CPU answers with, in words, and what each means to a check.

The codes are the S7comm error class and code (the header's two bytes, or the
USERDATA parameter error), as Siemens documents them for S7-300/400 and as
Wireshark's s7comm dissector names them.  Only codes a read can meet are
listed; any other code is still reported, by number.
"""

from __future__ import annotations

MISSING_BLOCK = 0xD209
# Refusals because of the CPU's protection: reported as access denied, not as a fault.
ACCESS_DENIED = {
    0xD241: "not permitted at the CPU's protection level",
    0xD0A1: "not permitted at the current protection level",
    0xD602: "password required / incorrect password",
    0xD605: "legitimation not possible: no password is set",
    0x8500: "access refused",
    0x8703: "access to the object refused",
}
WORDS = {
    0x0110: "invalid block number",
    0x0113: "invalid block type",
    0x0114: "block not found",
    0x011C: "protocol error",
    0x8001: "the service cannot be performed while the block is in its current state",
    0x8003: "error while transferring the block",
    0x8104: "service not implemented on the module, or a frame error",
    0x8301: "not enough memory on the module",
    0x8302: "too few resources on the module",
    0x8304: "no further parallel upload possible (resource bottleneck)",
    0x8305: "function not available",
    0x8401: "invalid service sequence (e.g. an upload out of order)",
    0x8402: "the addressed object is not in a state to do this",
    0x8404: "the function cannot be performed",
    0x8701: "error addressing the object (e.g. area or length)",
    0x8702: "service not supported by the module",
    0x8704: "the object is damaged",
    0xD081: "function not permitted in the current operating mode",
    0xD209: "the block does not exist",
    0xD20C: "the OB cannot be copied: its priority class does not exist",
    0xD20D: "the SDB cannot be interpreted",
    0xD20E: "no (further) block available",
    0xD210: "invalid block number",
    0xD226: "structural error in a block",
    0xD235: "the block has an incorrect checksum",
    0xD401: "information function unavailable",
    0xD402: "information function unavailable",
    0xD405: "service not supported or syntax error in its parameters",
    0xD406: "the requested information is currently unavailable",
    0xD801: "invalid address",
}


def describe(code: int) -> str:
    """The code in words (or "error") with its number, e.g. "the block does not exist (0xD209)"."""
    words = ACCESS_DENIED.get(code) or WORDS.get(code)
    return f"{words} (0x{code:04X})" if words else f"error 0x{code:04X}"
