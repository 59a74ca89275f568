"""Register replies (FC 3 and 4) decoded in one step instead of one ``struct.unpack`` per register.

pymodbus 3.16's ``ReadHoldingRegistersResponse.decode`` unpacks each register with
its own ``struct.unpack`` call and its decoder formats every decoded reply with
``str(pdu)`` for a debug log line whether or not debug logging is on: together
about 35 us of a 125-register reply, most of the CPU a sweep spends per drive
beyond the socket work (measured with benchmarks/scale_bench.py).  The response
classes below give the same registers, and fail on the same frames with the same
exceptions (tests/modbus/test_decode.py compares them with pymodbus's over
generated replies); they keep the registers as the reply's big-endian bytes until
the list is asked for (a collect copies the bytes straight into its table), and
their ``str`` names the register count instead of listing every value.

``decode_reply`` is a client decoder's ``decode`` over these classes without its
debug line (the asyncio client's; tests/modbus/test_async_client.py compares it
with pymodbus's).  ``install`` puts the classes in one sync client's decoder.
pymodbus's public ``register`` does the same but deep-copies the whole function
table for each client (~100 us per device); the table here is built once and
shared, read-only, by every client.
"""

from __future__ import annotations

import struct
from typing import Any

from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse


class _OneUnpack:
    """The decode and str of a register reply; mixed in before pymodbus's class.

    The registers stay the big-endian bytes they came as (``register_bytes``) until
    someone asks for ``registers``: a collect copies the bytes straight into its
    table (``array.frombytes``) and never builds the list."""

    function_code: int
    register_bytes: bytes | None = None  # None: ``registers`` was set, not decoded
    _registers: list[int] | None = None

    @property
    def registers(self) -> list[int]:
        if self._registers is None:
            raw = self.register_bytes or b""
            self._registers = list(struct.unpack(f">{len(raw) // 2}H", raw))
        return self._registers

    @registers.setter
    def registers(self, value: list[int]) -> None:
        self._registers, self.register_bytes = value, None

    def decode(self, data: bytes) -> None:
        # As pymodbus: a byte count that does not fit the frame is a ModbusIOException,
        # and registers are read from the byte pairs that start before the byte count's
        # end (an odd count's last byte is ignored, as pymodbus's range(1, n, 2) does).
        self.registers = []
        if (data_len := int(data[0])) >= len(data):
            raise ModbusIOException(f"byte_count {data_len} > length of packet {len(data)}",
                                    function_code=self.function_code)
        self._registers, self.register_bytes = None, bytes(data[1:1 + data_len // 2 * 2])

    def __str__(self) -> str:
        pdu: Any = self
        return (f"{type(self).__name__}(dev_id={pdu.dev_id}, transaction_id={pdu.transaction_id}, "
                f"{len(self.registers)} registers)")


class FastReadHoldingRegistersResponse(_OneUnpack, ReadHoldingRegistersResponse):
    """FC 3 reply, decoded in one unpack."""


class FastReadInputRegistersResponse(_OneUnpack, ReadInputRegistersResponse):
    """FC 4 reply, decoded in one unpack."""


_FAST = (FastReadHoldingRegistersResponse, FastReadInputRegistersResponse)
_table: dict[int, tuple[Any, Any]] | None = None


def _reply_table() -> dict[int, tuple[Any, Any]]:
    global _table
    if _table is None:
        # Built on first use, after pymodbus's modules have filled the class table.
        table = dict(DecodePDU.pdu_table)
        for cls in _FAST:
            table[cls.function_code] = (table[cls.function_code][0], cls)
        _table = table
    return _table


def decode_reply(pdu: bytes) -> ModbusPDU | None:
    """A reply PDU (function code first) decoded as a client's ``DecodePDU.decode``
    with the classes above does, None where it gives None; without its debug line,
    which formats every reply even with debug logging off."""
    try:
        if (function_code := int(pdu[0])) > 0x80:
            reply: ModbusPDU = ExceptionResponse(function_code & 0x7F)
            reply.decode(pdu[1:])
            return reply
        if not (cls := _reply_table().get(function_code, (None, None))[1]):
            return None  # pymodbus: "Unknown response", logged and None
        reply = cls()
        reply.decode(pdu[1:])
        if reply.sub_function_code >= 0:
            lookup = DecodePDU.pdu_sub_table.get(reply.function_code, {})
            if sub_class := lookup.get(reply.sub_function_code, (None, None))[1]:
                reply = sub_class()
                reply.decode(pdu[1:])
        return reply
    except (ModbusException, ValueError, IndexError, struct.error):
        return None  # the exceptions pymodbus turns into None


def install(client: Any) -> None:
    """Decode the sync ``client``'s register replies with the classes above."""
    # What DecodePDU.register does, minus its per-client deep copy: an instance table
    # that shadows the class-wide one.  Shared by every client and never modified.
    client.framer.decoder.pdu_table = _reply_table()
