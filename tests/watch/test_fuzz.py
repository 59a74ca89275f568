"""Malformed and fuzzed traffic never stops the watcher, and no decoder trips over it.

Seeded, bounded: real PDUs from the shared captures with bytes flipped, cut,
repeated and spliced, fed through the whole per-packet path with random
sequence numbers and flags; plus plain random payloads on every port.
"""

from __future__ import annotations

import random

import pytest

from integrity.watch.enip import EnipDecoder
from integrity.watch.modbus import ModbusDecoder
from integrity.watch.packets import Segment, read_file
from integrity.watch.s7 import S7Decoder
from integrity.watch.wire import Wire
from support.watch_replay import DEVICES, capture

SOURCES = ["s7/s7_all.pcap", "s7/snap7_s300_everything.pcapng", "enip/EIP-SoftwareDownload.pcap",
           "modbus/modbus_test_data_part1.pcap", "s7plus/S7-1200-Uploading-OB1-TIAV12.pcap"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b)):]
        elif op == 2:
            b[rng.randrange(len(b) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif op == 3 and b:
            at = rng.randrange(len(b))
            b[at:at] = b[at:at + rng.randint(1, 64)]
        elif op == 4 and len(b) > 4:
            b[rng.randrange(len(b) - 2):][:2] = b"\xff\xff"
    return bytes(b)


def test_mutated_real_traffic_never_raises():
    rng = random.Random(1201)
    segments = [s for name in SOURCES for s in read_file(str(capture(name))) if s.payload]
    wire = Wire(DEVICES)
    for _ in range(6000):
        s = rng.choice(segments)
        flags = rng.choice([s.flags, s.flags | 0x02, s.flags | 0x01, s.flags | 0x04])
        seq = s.seq if rng.random() < 0.7 else rng.getrandbits(32)
        wire.segment(s._replace(payload=mutate(rng, s.payload), seq=seq, flags=flags))
    wire.finish()
    assert wire.stats.decode_errors == 0
    assert wire.stats.frames > 1000  # the fuzz did reach the decoders


@pytest.mark.parametrize("decoder", [S7Decoder, EnipDecoder, ModbusDecoder])
def test_decoders_take_any_frame(decoder):
    rng = random.Random(decoder.__name__)
    d = decoder()
    for n in range(4000):
        size = rng.choice([0, 1, 3, 7, 8, 12, 24, 30, 60, 300])
        frame = bytes(rng.randrange(256) for _ in range(size))
        if decoder is S7Decoder and size >= 7:
            frame = b"\x03\x00" + frame[2:4] + b"\x02\xf0\x80" + bytes([rng.choice([0x32, 0x72])]) + frame[8:]
        if decoder is EnipDecoder and size >= 24:
            frame = bytes([rng.choice([0x6F, 0x70]), 0]) + frame[2:20] + b"\0\0\0\0" + frame[24:]
        d.frame(frame, bool(n & 1))


def test_random_payloads_on_plc_ports_never_raise():
    rng = random.Random(7)
    wire = Wire(DEVICES)
    for i in range(3000):
        port = rng.choice([102, 502, 44818])
        seg = Segment(i * 0.01, "10.9.9.9", 40000 + rng.randrange(8), "192.168.0.3", port,
                      rng.getrandbits(32), rng.randrange(64),
                      bytes(rng.randrange(256) for _ in range(rng.randrange(200))))
        wire.segment(seg)
    wire.finish()
    assert wire.stats.decode_errors == 0
