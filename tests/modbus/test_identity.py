"""FC 43/14 device identification: per-simulator identity, byte-exact strings,
devices without FC 43, malformed replies, and the recorded Schneider M340 reply."""

from __future__ import annotations

import socket
import time

import pytest

from integrity.errors import DeviceProtocolError
from simulators.plant import Plant


def identity(collect, device) -> dict:
    return collect(device).by_key()["identity"].value()


def test_three_simulators_in_one_process_each_answer_their_own_identity(collect, device):
    with Plant("crane") as plant:
        sims = [s for s in plant if s.protocol == "modbus"]
        assert sorted(s.name for s in sims) == ["vfd-gantry", "vfd-hoist", "vfd-trolley"]
        seen = {}
        for sim in sims:
            objects = identity(collect, device(sim.port, name=sim.name))["objects"]
            seen[sim.name] = (objects["0x00"]["text"], objects["0x01"]["text"], objects["0x02"]["text"])
        assert seen == {"vfd-hoist": ("Nordwind Antriebe", "NX-800-075", "V4.12"),
                        "vfd-trolley": ("Nordwind Antriebe", "NX-400-011", "V4.09"),
                        "vfd-gantry": ("Kessler Drives", "KD5-22", "2.3.1")}


def test_identity_reads_basic_and_regular_byte_exact(collect, simulator, device):
    sim = simulator()
    value = identity(collect, device(sim.port))
    assert value["supported"] is True and value["conformity"] == "0x83"
    vendor = value["objects"]["0x00"]
    assert vendor == {"hex": b"ACME Automation  ".hex(), "text": "ACME Automation  ",
                      "name": "vendor_name"}
    assert sorted(value["objects"]) == ["0x00", "0x01", "0x02", "0x04", "0x05", "0x06"]
    mei = [r.detail for r in sim.requests if r.operation == "FC43"]
    assert mei == ["unit=1 mei=14", "unit=1 mei=14"]  # basic, then regular


def test_device_without_fc43_is_recorded_not_failed(collect, simulator, device):
    sim = simulator(identity=None)
    value = identity(collect, device(sim.port, holding=["0-9"]))
    assert value == {"supported": False, "exception": 1}


def _answer_fc43_with(reply_pdu_for: "callable"):
    """A plain-socket Modbus peer that answers FC 43 requests with crafted PDUs."""

    def handler(conn: socket.socket, peer_ref: list) -> None:
        while frame := peer_ref[0].recv_frame(conn):
            pdu = reply_pdu_for(frame[7:])
            conn.sendall(frame[:4] + (len(pdu) + 1).to_bytes(2, "big") + frame[6:7] + pdu)

    return handler


def _start(peer, reply_pdu_for):
    ref: list = []
    p = peer(lambda conn: _answer_fc43_with(reply_pdu_for)(conn, ref))
    ref.append(p)
    return p


@pytest.mark.parametrize("pdu", [
    pytest.param(bytes.fromhex("2b0e018100000300044142"), id="object-truncated"),
    pytest.param(bytes.fromhex("2b0e01810000020002414201"), id="object-count-lies"),
    pytest.param(bytes.fromhex("2b0e0181000001000141ffff"), id="trailing-bytes"),
    pytest.param(bytes.fromhex("2b0e01810700010001410000"), id="bad-more-follows"),
    pytest.param(bytes.fromhex("2b0e01"), id="short-header"),
])
def test_malformed_identity_reply_is_a_protocol_error(collect, peer, device, pdu):
    p = _start(peer, lambda req: pdu)
    with pytest.raises(DeviceProtocolError) as err:
        identity(collect, device(p.port))
    assert "dut" in str(err.value) and "FC 43/14" in str(err.value)


def test_identity_follows_more_follows(collect, peer, device):
    pages = {0: bytes.fromhex("2b0e0283ff0303") + b"\x00\x01A" + b"\x01\x01B" + b"\x02\x01C",
             3: bytes.fromhex("2b0e0283000001") + b"\x03\x01D"}
    basic = bytes.fromhex("2b0e0183000003") + b"\x00\x01A" + b"\x01\x01B" + b"\x02\x01C"
    p = _start(peer, lambda req: basic if req[2] == 1 else pages[req[3]])
    value = identity(collect, device(p.port))
    assert {k: v["text"] for k, v in value["objects"].items()} == {
        "0x00": "A", "0x01": "B", "0x02": "C", "0x03": "D"}
    assert [f[7:].hex()[-4:] for f in p.received] == ["0100", "0200", "0203"]


def test_recorded_m340_reply_keeps_vendor_trailing_spaces(collect, peer, device, m340_reply):
    """Replay a real Schneider M340's answer; only the transaction id and unit change."""

    def handler(conn: socket.socket) -> None:
        while frame := p.recv_frame(conn):
            if frame[7:10] == b"\x2b\x0e\x01":
                conn.sendall(frame[:2] + m340_reply[2:6] + frame[6:7] + m340_reply[7:])
            else:  # the M340 is conformity 0x81: the driver must not ask for more
                conn.sendall(frame[:4] + b"\x00\x03" + frame[6:7] + bytes([frame[7] | 0x80, 1]))

    p = peer(handler)
    started = time.monotonic()
    value = identity(collect, device(p.port))
    assert time.monotonic() - started < 4
    vendor = value["objects"]["0x00"]
    assert vendor["text"] == "Schneider Electric  "
    assert bytes.fromhex(vendor["hex"]) == b"Schneider Electric  "
    assert value["objects"]["0x01"]["text"] == "BMX P34 2020"
    assert value["objects"]["0x02"]["text"] == "v2.5"
    assert value["conformity"] == "0x81" and "regular" not in value
    assert len(p.received) == 1  # basic only
