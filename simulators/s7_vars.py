"""S7 read/write variable requests (Job 0x04 / 0x05), answered as a CPU does.

python-snap7 3.3.0's stock server answers these only from areas registered with
``register_area``, so against our simulator (whose DBs are block images) every
``db_read``/``db_write`` failed with "object does not exist".  Here the request
is taken apart from its own bytes and answered from a ``Memory``: the simulator's
DB values (the MC7 of each DB image), and its I, Q, M, T and C areas.

Wire layout (S7comm, big-endian).  Parameters: function, item count, then per
item 12 bytes ``12 0A 10 <word length> <count:2> <db:2> <area> <address:3>``,
where the address is a bit address (byte * 8 + bit) except for timers and
counters (element number).  Write data, per item: ``00 <transport> <length:2>
<bytes>``, padded to an even length between items; the length counts bits for
transports 0x03/0x04/0x05 and bytes for 0x07/0x09.  The answer is ACK_DATA with
one return code per item (0xFF done; 0x05 out of range; 0x06/0x07 bad type or
length; 0x0A no such object), and for reads the data behind each good item.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

WRITE_VAR = 0x05  # READ_VAR is 0x04
AREAS = {0x81: "I", 0x82: "Q", 0x83: "M", 0x84: "DB", 0x1C: "C", 0x1D: "T"}
BIT, BYTE, CHAR, WORD, INT, DWORD, DINT, REAL, COUNTER, TIMER = (
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x1C, 0x1D)
_SIZES = {BIT: 1, BYTE: 1, CHAR: 1, WORD: 2, INT: 2, DWORD: 4, DINT: 4, REAL: 4, COUNTER: 2, TIMER: 2}

DONE = 0xFF
OUT_OF_RANGE = 0x05
TYPE_NOT_SUPPORTED = 0x06
TYPE_INCONSISTENT = 0x07
NO_OBJECT = 0x0A
PDU_SIZE = 480  # what the server negotiates (snap7 caps setup communication at 480)


class Memory(Protocol):
    """What answers the items: bytes, or an item return code (NO_OBJECT, OUT_OF_RANGE)."""

    def read_area(self, area: str, db: int, start: int, size: int) -> bytes | int: ...

    def write_area(self, area: str, db: int, start: int, data: bytes) -> int: ...

    def write_bit(self, area: str, db: int, start: int, bit: int, value: bool) -> int: ...


@dataclass(frozen=True)
class Item:
    """One addressed variable of a request."""

    area: int
    db: int
    word_len: int
    count: int
    address: int

    @property
    def start(self) -> int:
        """First byte: timers and counters are addressed by element, 2 bytes each."""
        return self.address * 2 if self.word_len in (TIMER, COUNTER) else self.address // 8

    @property
    def size(self) -> int:
        return self.count * _SIZES.get(self.word_len, 1)

    def __str__(self) -> str:
        area = AREAS.get(self.area, f"area0x{self.area:02x}")
        where = f"DB{self.db}" if area == "DB" else area
        if self.word_len == BIT:
            return f"{where}.{self.address // 8}.{self.address % 8}"
        return f"{where}.{self.start}[{self.size}]"


def parse_items(pdu: bytes) -> list[Item]:
    """The items of a read/write variable Job; ValueError if the parameters are malformed."""
    if len(pdu) < 12:
        raise ValueError("short S7 header")
    param_len = struct.unpack(">H", pdu[6:8])[0]
    params = pdu[10:10 + param_len]
    if len(params) < 2 or len(params) != 2 + 12 * params[1] or params[1] == 0:
        raise ValueError("variable request parameters do not match their item count")
    items = []
    for i in range(params[1]):
        spec = params[2 + 12 * i:14 + 12 * i]
        if spec[:3] != b"\x12\x0a\x10":
            raise ValueError(f"item {i + 1} is not an S7-ANY address")
        word_len, count, db, area = struct.unpack(">BHHB", spec[3:9])
        items.append(Item(area, db, word_len, count, int.from_bytes(spec[9:12], "big")))
    return items


def describe(pdu: bytes) -> str:
    """The addresses a request names, for the request record ('' if malformed)."""
    try:
        return " ".join(str(item) for item in parse_items(pdu))
    except ValueError:
        return ""


def _write_payloads(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """(transport size, bytes) per item of a write's data section."""
    out, offset = [], 0
    for i in range(count):
        if offset + 4 > len(data):
            raise ValueError("write data ends before its items do")
        transport, length = data[offset + 1], struct.unpack(">H", data[offset + 2:offset + 4])[0]
        nbytes = length if transport in (0x03, 0x07, 0x09) else (length + 7) // 8
        payload = data[offset + 4:offset + 4 + nbytes]
        if len(payload) != nbytes:
            raise ValueError("write data shorter than it declares")
        out.append((transport, payload))
        offset += 4 + nbytes + (nbytes % 2 if i < count - 1 else 0)
    return out


def _ack(pdu: bytes, params: bytes, data: bytes = b"", error: int = 0) -> bytes:
    return struct.pack(">BBHHHHH", 0x32, 0x03, 0, struct.unpack(">H", pdu[4:6])[0], len(params),
                       len(data), error) + params + data


def _check(item: Item) -> int:
    if item.area not in AREAS:
        return NO_OBJECT
    if item.word_len not in _SIZES:
        return TYPE_NOT_SUPPORTED
    if item.word_len == BIT and item.count != 1:
        return TYPE_INCONSISTENT
    return DONE


def _read_one(item: Item, memory: Memory) -> tuple[int, bytes]:
    code = _check(item)
    if code != DONE:
        return code, b""
    got = memory.read_area(AREAS[item.area], item.db, item.start, item.size)
    if isinstance(got, int):
        return got, b""
    if item.word_len == BIT:
        return DONE, bytes(((got[0] >> (item.address % 8)) & 1,))
    return DONE, got


def _write_one(item: Item, transport: int, payload: bytes, memory: Memory) -> int:
    code = _check(item)
    if code != DONE:
        return code
    if len(payload) != item.size or (item.word_len == BIT) != (transport == 0x03):
        return TYPE_INCONSISTENT
    area = AREAS[item.area]
    if item.word_len == BIT:
        return memory.write_bit(area, item.db, item.start, item.address % 8, bool(payload[0] & 1))
    return memory.write_area(area, item.db, item.start, payload)


def answer(pdu: bytes, memory: Memory) -> bytes:
    """The ACK_DATA for one read (0x04) or write (0x05) variable Job."""
    function = pdu[10]
    try:
        items = parse_items(pdu)
        param_len, data_len = struct.unpack(">HH", pdu[6:10])
        payloads = (_write_payloads(pdu[10 + param_len:10 + param_len + data_len], len(items))
                    if function == WRITE_VAR else [])
    except ValueError:
        return _ack(pdu, b"", error=0x8104)  # as for any request the CPU cannot take apart
    params = bytes((function, len(items)))
    if function == WRITE_VAR:
        codes = [_write_one(item, t, p, memory) for item, (t, p) in zip(items, payloads)]
        return _ack(pdu, params, bytes(codes))
    data = bytearray()
    for i, item in enumerate(items):
        code, value = _read_one(item, memory)
        if code != DONE:
            data += bytes((code, 0, 0, 0))
            continue
        if item.word_len == BIT:
            transport, length = 0x03, 1
        elif item.word_len in (TIMER, COUNTER):
            transport, length = 0x09, len(value)  # octet string: the length counts bytes
        else:
            transport, length = 0x04, len(value) * 8
        data += struct.pack(">BBH", DONE, transport, length) + value
        if i < len(items) - 1 and len(value) % 2:
            data += b"\x00"
    if 12 + len(params) + len(data) > PDU_SIZE:
        return _ack(pdu, params, error=0x8500)  # the answer would not fit the negotiated PDU
    return _ack(pdu, params, bytes(data))
