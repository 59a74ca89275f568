"""The one-unpack register decoding (drivers/modbus_decode.py) against pymodbus's own:
the same registers, or the same exception, for every reply."""

from __future__ import annotations

import random
import struct

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from drivers import modbus_decode
from drivers.modbus_decode import FastReadHoldingRegistersResponse, FastReadInputRegistersResponse

PAIRS = [(ReadHoldingRegistersResponse, FastReadHoldingRegistersResponse),
         (ReadInputRegistersResponse, FastReadInputRegistersResponse)]


def outcome(cls: type, data: bytes) -> tuple[str, object]:
    pdu = cls()
    try:
        pdu.decode(data)
    except Exception as exc:  # noqa: BLE001 - the exception itself is what is compared
        return type(exc).__name__, str(exc)
    assert all(type(r) is int for r in pdu.registers)
    return "ok", pdu.registers


def replies() -> list[bytes]:
    rng = random.Random(13)
    out = [b"", b"\x00", b"\x01", b"\x02", b"\x02\x12", b"\x02\x12\x34", b"\x03\x12\x34\x56",
           b"\x04\x12\x34\x56\x78", b"\xfa" + bytes(250), b"\xfa" + b"\xff" * 250,
           b"\xfa" + b"\xff" * 249, b"\xff" + b"\x01" * 255, b"\xff" + b"\x01" * 256]
    for _ in range(3000):
        n = rng.randrange(0, 256)
        body = bytes(rng.randrange(256) for _ in range(rng.choice([n, n + 1, n - 1, n + 7,
                                                                    rng.randrange(0, 300)])
                                                     if n else 0))
        out.append(bytes([n]) + body)
    for count in (1, 2, 17, 124, 125):  # well-formed replies, as a drive sends them
        values = [rng.randrange(65536) for _ in range(count)]
        out.append(bytes([2 * count]) + struct.pack(f">{count}H", *values))
    return out


@pytest.mark.parametrize("reference, fast", PAIRS)
def test_fast_decode_gives_what_pymodbus_gives_for_every_reply(reference, fast):
    for data in replies():
        assert outcome(fast, data) == outcome(reference, data), data.hex()


def test_fast_classes_answer_the_same_function_codes_and_types():
    for reference, fast in PAIRS:
        assert fast.function_code == reference.function_code
        assert issubclass(fast, reference)
        pdu = fast(registers=[1, 2, 3], dev_id=4, transaction_id=5)
        assert "3 registers" in str(pdu) and "dev_id=4" in str(pdu)


def test_install_changes_one_client_only_and_never_pymodbus_own_table():
    before = dict(DecodePDU.pdu_table)
    client, other = ModbusTcpClient("127.0.0.1", port=1), ModbusTcpClient("127.0.0.1", port=1)
    modbus_decode.install(client)
    decoder = client.framer.decoder
    assert decoder.pdu_table[3][1] is FastReadHoldingRegistersResponse
    assert decoder.pdu_table[4][1] is FastReadInputRegistersResponse
    assert DecodePDU.pdu_table == before
    assert other.framer.decoder.pdu_table[3][1] is ReadHoldingRegistersResponse
    # Every other function decodes as pymodbus does.
    assert {k: v for k, v in decoder.pdu_table.items() if k not in (3, 4)} == \
        {k: v for k, v in before.items() if k not in (3, 4)}
    # A whole reply frame (function code first) decodes to the fast class.
    pdu = decoder.decode(b"\x03\x04\x00\x07\xff\xff")
    assert type(pdu) is FastReadHoldingRegistersResponse and pdu.registers == [7, 65535]
