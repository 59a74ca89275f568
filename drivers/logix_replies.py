"""Does a Logix reply answer the request that was sent?  Read from the bytes.

pycomm3 takes whatever frame comes next as the answer to its request.  A peer
that repeats a reply (or a stale one arrives late) would then be read as the
answer to something else: a duplicated Identity reply taken as the Forward
Open reply gives pycomm3 an invented connection id, on which it sends its
reads.  So before pycomm3 sees a reply, it is held against the request:

  - the encapsulation command is the request's;
  - the CIP reply service is the request's service with the reply bit (0x80);
    for Unconnected Send, the embedded request's reply or the router's own
    (0xD2) error reply;
  - a connected reply (SendUnitData) carries our connection, either id of it
    (controllers answer with the T->O id we chose, some emulators echo the
    O->T id), and the request's sequence count;
  - a successful Forward Open reply names our T->O connection id, connection
    serial number, vendor id and originator serial number.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SEND_RR_DATA, SEND_UNIT_DATA = 0x6F, 0x70
UNCONNECTED_SEND, FORWARD_OPEN, LARGE_FORWARD_OPEN = 0x52, 0x54, 0x5B
REPLY = 0x80
HEADER = 24


@dataclass(frozen=True)
class Connection:
    """What identifies our connection: pycomm3's originator-chosen ids (its
    ``_cfg`` cid, csn, vid, vsn) and the target's id once Forward Open succeeded."""

    t_o_id: bytes
    serial: bytes
    vendor: bytes
    originator_serial: bytes
    o_t_id: bytes | None


def _items(frame: bytes) -> dict[int, bytes]:
    """The common packet format items of a SendRRData / SendUnitData frame, by type."""
    length = struct.unpack_from("<H", frame, 2)[0]
    body = frame[HEADER:HEADER + length]
    count = struct.unpack_from("<H", body, 6)[0]
    items, pos = {}, 8
    for _ in range(count):
        kind, n = struct.unpack_from("<HH", body, pos)
        if pos + 4 + n > len(body):
            raise ValueError("item longer than the frame")
        items[kind] = body[pos + 4:pos + 4 + n]
        pos += 4 + n
    return items


def _cip(items: dict[int, bytes], command: int) -> tuple[bytes, bytes]:
    """(CIP message, sequence count or b"") from a frame's items."""
    if command == SEND_RR_DATA:
        return items[0xB2], b""
    data = items[0xB1]
    return data[2:], data[:2]


def _expected_services(request: bytes) -> set[int]:
    service, words = request[0], request[1]
    expected = {service | REPLY}
    if service == UNCONNECTED_SEND:
        data = request[2 + 2 * words:]
        embedded = data[4:4 + struct.unpack_from("<H", data, 2)[0]]
        if embedded:
            expected.add(embedded[0] | REPLY)
    return expected


def mismatch(request: bytes, reply: bytes, connection: Connection) -> str | None:
    """Why ``reply`` does not answer ``request``, or None when it does.  Our own
    request always parses; a reply that does not is a mismatch too."""
    command = struct.unpack_from("<H", request, 0)[0]
    try:
        got = struct.unpack_from("<H", reply, 0)[0]
        if got != command:
            return f"encapsulation command 0x{got:02x} answers 0x{command:02x}"
        if command not in (SEND_RR_DATA, SEND_UNIT_DATA):
            return None
        sent, sequence = _cip(_items(request), command)
        items = _items(reply)
        answer, answer_sequence = _cip(items, command)
        if command == SEND_UNIT_DATA:
            address = items.get(0xA1)
            if address not in (connection.t_o_id, connection.o_t_id):
                shown = address.hex() if address is not None else "none"
                return f"connected reply on connection {shown}, not ours"
            if answer_sequence != sequence:
                return (f"sequence count {answer_sequence.hex()} answers "
                        f"{sequence.hex()}")
        if not answer:
            return "no CIP reply"
        expected = _expected_services(sent)
        if answer[0] not in expected:
            wanted = " or ".join(f"0x{s:02x}" for s in sorted(expected))
            return f"CIP reply service 0x{answer[0]:02x}, expected {wanted}"
        if answer[0] in (FORWARD_OPEN | REPLY, LARGE_FORWARD_OPEN | REPLY) and len(answer) > 2 \
                and answer[2] == 0:
            return _forward_open_mismatch(answer, connection)
        return None
    except (struct.error, IndexError, KeyError, ValueError) as exc:
        return f"reply cannot be matched to the request ({type(exc).__name__})"


def _forward_open_mismatch(answer: bytes, connection: Connection) -> str | None:
    data = answer[4 + 2 * answer[3]:]
    if len(data) < 16:
        return f"Forward Open reply of {len(data)} bytes, 16 expected"
    t_o, serial, vendor, originator = data[4:8], data[8:10], data[10:12], data[12:16]
    if (t_o, serial, vendor, originator) != (connection.t_o_id, connection.serial,
                                            connection.vendor, connection.originator_serial):
        return "Forward Open reply names another connection (its T->O id or serial numbers)"
    return None
