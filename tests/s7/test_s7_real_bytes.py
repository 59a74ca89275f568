"""The driver against a real CPU 315-2 PN/DP's recorded replies (../shared/captures/s7).

Expected values come from outside our code where possible: the Snap7 demo
client's own printout of the same session (snap7_s300_events.txt).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import pytest

from drivers.s7 import S7Driver
from drivers.s7_format import block_info, cpu_info, operating_mode, order_code, program_checksums
from drivers.s7_format import protection, split_image
from drivers.s7_session import S7Session
from integrity.errors import DeviceIncompleteError, DeviceProtocolError
from integrity.model import Device


@contextmanager
def session_on(replay_module, pdus) -> Iterator[S7Session]:
    with replay_module.Replay(replay_module.conversations(pdus)) as responder:
        options = S7Driver.parse_options({}, file=None, device="cpu315")
        device = Device("cpu315", "s7", "127.0.0.1", responder.port, options=options, timeout=2.0)
        session = S7Session(S7Driver(device), options.rack, options.slot)
        session.connect()
        try:
            yield session
        finally:
            session.close()


@pytest.fixture
def snap7_session(captures, pcap, replay):
    with session_on(replay, pcap.s7_pdus(captures / "snap7_s300_everything.pcapng")) as s:
        yield s


@pytest.fixture
def tia_session(captures, pcap, replay):
    with session_on(replay, pcap.s7_pdus(captures / "tia_s300_goOnline.pcapng")) as s:
        yield s


def printed(captures, label: str) -> str:
    text = (captures / "snap7_s300_events.txt").read_text(encoding="latin-1")
    return re.search(rf"{label}\s*: (.+)", text).group(1).strip()


def test_pcap_reader_finds_every_s7_pdu(captures, pcap):
    assert len(pcap.s7_pdus(captures / "snap7_s300_everything.pcapng")) == 64  # tshark: 64 S7COMM frames
    assert all(p.data[0] == 0x32 for p in pcap.s7_pdus(captures / "s7_all.pcap"))


def test_identity_from_raw_szl(snap7_session, captures):
    ident = order_code(snap7_session.read_szl(0x0011))
    assert ident["order_number"] == printed(captures, "Order Code") == "6ES7 315-2EH14-0AB0"
    # Firmware is record 7 ('V' 3.2.7). The demo client's "Version 32.9.9" is the boot
    # loader record 0x81 ('A' 32.9.9), which is kept apart.
    assert ident["firmware"] == "V3.2.7"
    assert ident["boot_loader"] == "A" + printed(captures, "Version") == "A32.9.9"
    unit = cpu_info(snap7_session.read_szl(0x001C))  # two fragments on the wire
    assert unit["serial"] == printed(captures, "Serial Number") == "S C-B1U393142011"
    assert unit["module_type"] == printed(captures, "Module Type Name") == "CPU 315-2 PN/DP"
    assert unit["as_name"] == printed(captures, "AS Name")
    assert unit["module_name"] == printed(captures, "Module Name") == "PLC_1"
    assert unit["plant_id"] == ""
    assert unit["memory_card_serial"].startswith("MMC ")
    assert operating_mode(snap7_session.read_szl(0x0424)) == {"mode": "RUN", "code": 8}


def test_block_counts(snap7_session, captures):
    counts = snap7_session.list_blocks()
    for name in ("OB", "FB", "FC", "SFB", "SFC", "DB", "SDB"):
        assert counts[name] == int(printed(captures, f"{name}Count"))


def test_sdb0_upload_image(snap7_session, captures):
    image = snap7_session.full_upload("SDB", 0)
    parts = split_image(image)
    assert len(image) == 216 and parts.header["type"] == "SDB" and parts.header["number"] == 0
    dump = (captures / "snap7_s300_events.txt").read_text(encoding="latin-1")
    dump = dump.split("Block Upload (SDB 0)", 1)[1].split("Dump (144 bytes) :", 1)[1]
    body = bytes.fromhex("".join(line[8:55] for line in dump.strip().splitlines()[:9]))
    assert parts.mc7 == body  # the demo client's own upload printed the same 144 bytes
    assert parts.header["code_date"].startswith("2015-12-")


def test_cpu_refusals_from_real_bytes(snap7_session):
    with pytest.raises(DeviceIncompleteError, match="0xD209"):
        snap7_session.block_info("DB", 0)
    with pytest.raises(DeviceProtocolError, match="0xD20C"):
        snap7_session.full_upload("OB", 0)


def test_block_lists_and_info_from_tia_session(tia_session):
    counts = tia_session.list_blocks()
    sfc = tia_session.list_blocks_of_type("SFC")  # answered in two fragments
    assert len(sfc) == counts["SFC"] == 77 and sfc[:3] == [0, 1, 2]
    assert tia_session.list_blocks_of_type("DB") == [1, 2]
    assert tia_session.list_blocks_of_type("OB") == [1]
    ob1 = block_info(tia_session.block_info("OB", 1))
    assert (ob1["type"], ob1["number"], ob1["mc7_size"], ob1["load_size"]) == ("OB", 1, 206, 324)
    assert ob1["checksum"] == 0x00C0 and ob1["language"] == "FBD" and ob1["version"] == "0.1"
    assert ob1["code_date"] == "2015-12-15T23:27:04.820"
    assert ob1["interface_date"] == "2007-08-03T16:55:08.419"
    db1 = block_info(tia_session.block_info("DB", 1))
    assert (db1["author"], db1["family"], db1["name"], db1["version"]) == ("SIMATIC", "IEC_TC", "CTU", "1.0")
    assert db1["checksum"] == 0x798C and db1["mc7_size"] == 10 and db1["load_size"] == 102
    fb1 = block_info(tia_session.block_info("FB", 1))
    assert fb1["load_size"] == 36 + fb1["mc7_size"] + fb1["sbb_size"] + fb1["add_size"] + 36
    assert protection(tia_session.read_szl(0x0232, 4)) == {
        "sch_schal": 1, "sch_par": 0, "sch_rel": 1, "bart_sch": 2, "anl_sch": 0}


def test_cpu_checksums_from_tia_session_match_its_block_infos(tia_session):
    """ken_ver1_awp/ken_ver2_awp are the XOR of the MC7 sizes and of the block
    checksums over OB/DB/FB/FC: checked against the block infos the same CPU gave
    in the same session (OB 1, FB 1, DB 1, DB 2; no FC).  The four words are
    little-endian on the wire; Wireshark shows them as below."""
    raw = tia_session.read_szl(0x0232, 4)
    expected = {"valid": True, "ken_rel": 0x5656,
                "hardware": {"mc7_size_xor": 0x00A4, "checksum_xor": 0x1B93},
                "program": {"mc7_size_xor": 0x1F4A, "checksum_xor": 0x0144}}
    assert program_checksums(raw) == expected
    assert program_checksums(tia_session.read_szl(0x0132, 4), 0x0132) == expected
    assert protection(tia_session.read_szl(0x0132, 4), 0x0132) == protection(raw)
    size = check = 0
    for block_type in ("OB", "FB", "FC", "DB"):
        for number in tia_session.list_blocks_of_type(block_type) if block_type != "FC" else []:
            info = block_info(tia_session.block_info(block_type, number))
            size ^= info["mc7_size"]
            check ^= info["checksum"]
    assert (size, check) == (0x1F4A, 0x0144)


def test_cpu_checksums_change_as_blocks_are_downloaded(captures, pcap):
    """s7_all.pcap: a client polls SZL 0x0132 index 4 while blocks are downloaded."""
    answers = pcap.szl_answers(pcap.s7_pdus(captures / "s7_all.pcap"), 0x0132, 4)
    decoded = [program_checksums(a, 0x0132) for a in answers]
    assert len(decoded) >= 10 and all(d["valid"] for d in decoded)
    assert all(d["hardware"] == {"mc7_size_xor": 0x0096, "checksum_xor": 0x6C3E} for d in decoded)
    seen = []
    for d in decoded:
        pair = (d["program"]["mc7_size_xor"], d["program"]["checksum_xor"])
        if pair not in seen:
            seen.append(pair)
    assert seen == [(0x00D0, 0x51C4), (0x00C6, 0xFEE4), (0x0738, 0xAD65), (0x0724, 0xD3A0),
                    (0x0720, 0xF21B)]
    assert {protection(a, 0x0132)["sch_schal"] for a in answers} == {1}


def test_checksums_not_vouched_for_are_not_values(tia_session):
    raw = bytearray(tia_session.read_szl(0x0232, 4))
    raw[8 + 14:8 + 16] = b"\x00\x00"  # ken_rel of a CPU without valid checksums
    assert program_checksums(bytes(raw)) == {"valid": False, "ken_rel": 0}
    short = bytes(raw[:4]) + b"\x00\x0c\x00\x01" + bytes(raw[8:20])  # only the protection words
    assert program_checksums(short) == {"valid": False, "ken_rel": None}
    assert protection(short) == protection(bytes(raw))
