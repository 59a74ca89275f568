"""The S7-1500 simulator: change indicators move as a CPU's do, and every
request is recorded with an honest read/non-read verdict."""

from __future__ import annotations

import struct

from s7commplus import Client

from drivers import s7plus_format as fmt
from simulators.s7plus import attacker_download, attacker_write_db
from simulators.s7plus_program import Block


def indicators(sim, btype: str, number: int) -> dict:
    client = Client()
    client.connect(sim.host, sim.port)
    try:
        blocks = fmt.program_blocks(fmt.objects(client.explore(3, [])))
    finally:
        client.disconnect()
    [block] = [b for b in blocks if (b["type"], b["number"]) == (btype, number)]
    return block["indicators"]


def test_code_download_moves_the_crc_not_the_type_info_time(trolley):
    before = indicators(trolley, "FC", 21)
    attacker_download(trolley.host, trolley.port, "FC", 21, b"L #In; T #Out")
    after = indicators(trolley, "FC", 21)
    assert after["CRC:2532"] != before["CRC:2532"]
    assert after["TypeInfoModificationTime:529"] == before["TypeInfoModificationTime:529"]
    downloads = [r for r in trolley.requests if r.operation == "download_block"]
    assert len(downloads) == 1 and not downloads[0].read


def test_interface_change_moves_the_type_info_time(trolley):
    before = indicators(trolley, "DB", 3)
    old = trolley.program.find("DB", 3)
    trolley.program.load(Block("DB", 3, old.name, old.language, old.code,
                               variables={**old.variables, "Alarm": ("Bool", 6)}))
    after = indicators(trolley, "DB", 3)
    assert after["TypeInfoModificationTime:529"] != before["TypeInfoModificationTime:529"]
    assert after["CRC:2532"] != before["CRC:2532"]


def test_value_write_changes_no_indicator(trolley):
    before = indicators(trolley, "DB", 1)
    attacker_write_db(trolley.host, trolley.port, 1, 4, struct.pack(">f", 9.0))
    assert indicators(trolley, "DB", 1) == before
    assert trolley.program.memory[1].read(4, 4) == struct.pack(">f", 9.0)
    assert [r.operation for r in trolley.requests if not r.read] == ["write_db"]


def test_identity_in_the_session_and_the_cpu_common_object(trolley):
    client = Client()
    client.connect(trolley.host, trolley.port)
    try:
        from s7commplus.legitimation import extract_session_version_string
        paom = extract_session_version_string(client._connection._server_session_version)
        [cpu] = fmt.objects(client.explore(50, []))
    finally:
        client.disconnect()
    assert fmt.identity(paom)["order_number"] == "6ES7 511-1AK02-0AB0"
    assert fmt.text(cpu.attributes[7005]) == "PLC_Trolley"  # the simulator's own attribute id
