"""TCP reassembly: split frames, retransmissions, out-of-order segments, lost segments, wrap."""

from __future__ import annotations

import struct

import pytest

from integrity.model import Device
from integrity.watch.packets import Segment
from integrity.watch.wire import Wire

PLC = Device(name="vfd-hoist", protocol="modbus", host="10.0.0.2", port=502)
ACK, PSH, SYN = 0x10, 0x08, 0x02


def write_register(tid: int, addr: int, value: int) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, 1, 6, addr, value)


def segs(stream: bytes, cuts: list[int], isn: int, t0: float = 1.0) -> list[Segment]:
    """The client's bytes cut at ``cuts``, as segments with sequence numbers from isn + 1."""
    out, prev = [], 0
    for i, cut in enumerate([*cuts, len(stream)]):
        out.append(Segment(t0 + i * 0.001, "10.0.0.9", 40000, "10.0.0.2", 502,
                           (isn + 1 + prev) & 0xFFFFFFFF, ACK | PSH, stream[prev:cut]))
        prev = cut
    return out


def run(segments: list[Segment], isn: int) -> list[tuple[str, str]]:
    wire = Wire([PLC])
    events = wire.segment(Segment(0.5, "10.0.0.9", 40000, "10.0.0.2", 502, isn, SYN, b"")).events
    for s in segments:
        events += wire.segment(s).events
    events += wire.finish().events
    return [(e.operation, e.target) for e in events]


STREAM = write_register(1, 22, 2250) + write_register(2, 23, 100) + write_register(3, 24, 7)
EXPECTED = [("modbus.write-register", "unit 1 holding 22"), ("modbus.write-register", "unit 1 holding 23"),
            ("modbus.write-register", "unit 1 holding 24")]


@pytest.mark.parametrize("isn", [1000, 0xFFFFFFF0], ids=["plain", "sequence-wraps"])
@pytest.mark.parametrize("order", [
    pytest.param(lambda s: s, id="in-order"),
    pytest.param(lambda s: [s[1], s[0], s[3], s[2], s[4]], id="out-of-order"),
    pytest.param(lambda s: [s[0], s[1], s[1], s[0], s[2], s[3], s[2], s[4]], id="retransmitted"),
    pytest.param(lambda s: s[::-1], id="reversed"),
])
def test_frames_split_across_segments_come_out_whole_and_once(isn, order):
    pieces = segs(STREAM, [5, 13, 20, 31], isn)
    assert run(order(pieces), isn) == EXPECTED


def test_overlapping_retransmission_with_new_bytes_is_trimmed():
    a = segs(STREAM, [10], 500)
    overlap = Segment(1.5, "10.0.0.9", 40000, "10.0.0.2", 502, 501 + 5, ACK, STREAM[5:20])
    rest = Segment(1.6, "10.0.0.9", 40000, "10.0.0.2", 502, 501 + 20, ACK, STREAM[20:])
    assert run([a[0], overlap, rest], 500) == EXPECTED


def test_a_lost_segment_costs_its_frame_only():
    pieces = segs(STREAM, [12, 24], 77)        # three segments, one frame each
    assert run([pieces[0], pieces[2]], 77) == [EXPECTED[0], EXPECTED[2]]


def test_joining_mid_connection_resynchronises_on_the_next_frame():
    wire = Wire([PLC])
    # No SYN seen; the first segment starts in the middle of a frame.
    tail = Segment(1.0, "10.0.0.9", 40000, "10.0.0.2", 502, 9000, ACK, STREAM[7:12])
    whole = Segment(1.1, "10.0.0.9", 40000, "10.0.0.2", 502, 9005, ACK, STREAM[12:])
    events = wire.segment(tail).events + wire.segment(whole).events + wire.finish().events
    assert ("modbus.write-register", "unit 1 holding 24") in [(e.operation, e.target) for e in events]
    assert wire.stats.decode_errors == 0


def test_replies_and_reads_are_not_events():
    read = struct.pack(">HHHBBHH", 9, 0, 6, 1, 3, 0, 10)
    reply = struct.pack(">HHHBB", 1, 0, 6, 1, 6) + struct.pack(">HH", 22, 2250)
    wire = Wire([PLC])
    events = wire.segment(Segment(1.0, "10.0.0.9", 40000, "10.0.0.2", 502, 1, ACK, read)).events
    events += wire.segment(Segment(1.1, "10.0.0.2", 502, "10.0.0.9", 40000, 1, ACK, reply)).events
    assert events == []
