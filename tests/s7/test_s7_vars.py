"""The S7 simulator answers read/write variable requests (Job 0x04/0x05) from any
S7 client, as a CPU does: DB values are the DB image's MC7, and I, Q, M, T, C
are memory areas.  The client here is python-snap7's own, declared as the
attacker, independent of our driver."""

from __future__ import annotations

import struct

import pytest
from snap7.error import S7Error
from snap7.type import Area, WordLen

from simulators import s7_vars
from simulators.s7 import attacker_client


@pytest.fixture
def client(sim):
    with attacker_client(sim.host, sim.port, 0, 2) as c:
        yield c


def db_values(sim, number: int) -> bytes:
    image = sim.block_image("DB", number)
    mc7_len = struct.unpack(">H", image[34:36])[0]
    return image[36:36 + mc7_len]


def test_db_read_returns_the_db_image_values(sim, client):
    values = db_values(sim, 10)
    assert bytes(client.db_read(10, 0, len(values))) == values
    assert bytes(client.db_read(10, 2, 3)) == values[2:5]


def test_db_write_changes_values_but_not_block_info(sim, client):
    info_before = sim.block("DB", 10).info()
    client.db_write(10, 4, bytearray(b"\xde\xad\xbe\xef"))
    assert db_values(sim, 10)[4:8] == b"\xde\xad\xbe\xef"
    assert sim.block("DB", 10).info() == info_before  # header and footer kept
    assert bytes(client.db_read(10, 4, 4)) == b"\xde\xad\xbe\xef"


@pytest.mark.parametrize("area", [Area.MK, Area.PE, Area.PA], ids=["M", "I", "Q"])
def test_memory_areas_read_and_write(client, area):
    client.write_area(area, 0, 100, bytearray(b"\x01\x02\x03"))
    assert bytes(client.read_area(area, 0, 100, 3)) == b"\x01\x02\x03"
    assert bytes(client.read_area(area, 0, 2040, 8)) == bytes(8)  # a CPU 315's 2 KB


def test_bit_write_sets_one_bit_only(client):
    client.mb_write(10, 1, bytearray(b"\x81"))
    client.write_area(Area.MK, 0, 10 * 8 + 3, bytearray(b"\x01"), word_len=WordLen.Bit)
    assert bytes(client.mb_read(10, 1)) == b"\x89"
    assert bytes(client.read_area(Area.MK, 0, 10 * 8 + 3, 1, word_len=WordLen.Bit)) == b"\x01"
    client.write_area(Area.MK, 0, 10 * 8 + 7, bytearray(b"\x00"), word_len=WordLen.Bit)
    assert bytes(client.mb_read(10, 1)) == b"\x09"


def test_multi_item_read(sim, client):
    client.mb_write(0, 2, bytearray(b"\x55\xaa"))
    items = [{"area": Area.DB, "db_number": 10, "start": 0, "size": 3},
             {"area": Area.MK, "db_number": 0, "start": 0, "size": 2}]
    code, data = client.read_multi_vars(items)
    assert code == 0
    assert [bytes(d) for d in data] == [db_values(sim, 10)[:3], b"\x55\xaa"]


@pytest.mark.parametrize(("call", "words"), [
    pytest.param(lambda c: c.db_read(99, 0, 4), "object does not exist", id="read-missing-db"),
    pytest.param(lambda c: c.db_write(99, 0, bytearray(4)), "object does not exist",
                 id="write-missing-db"),
    pytest.param(lambda c: c.db_read(10, 60000, 4), "invalid address", id="read-past-db-end"),
    pytest.param(lambda c: c.mb_read(2047, 2), "invalid address", id="read-past-m-end"),
])
def test_errors_are_item_return_codes(client, call, words):
    with pytest.raises(S7Error, match=f"(?i){words}"):
        call(client)


def test_requests_are_recorded_with_addresses_and_writes_are_not_reads(sim, client):
    sim.clear_requests()
    client.db_read(10, 0, 4)
    client.db_write(20, 2, bytearray(b"\x00\x01"))
    client.write_area(Area.MK, 0, 5 * 8 + 1, bytearray(b"\x01"), word_len=WordLen.Bit)
    got = [(r.operation, r.read, r.detail) for r in sim.requests]
    assert got == [("read_var", True, "DB10.0[4]"), ("write_var", False, "DB20.2[2]"),
                   ("write_var", False, "M.5.1")]


def test_malformed_variable_request_is_refused_not_a_crash():
    # Item count says 2, only one item follows.
    pdu = (struct.pack(">BBHHHH", 0x32, 1, 0, 9, 14, 0) + bytes((0x04, 2))
           + bytes.fromhex("120a10020004000a84000000"))
    reply = s7_vars.answer(pdu, memory=None)  # type: ignore[arg-type]  # never reached
    assert reply[:2] == b"\x32\x03" and reply[10:12] == b"\x81\x04"
    assert s7_vars.describe(pdu) == ""
