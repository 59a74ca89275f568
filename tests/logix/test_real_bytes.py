"""Replay of real controller replies: the identity values the driver extracts from
bytes no simulator of ours produced.

cip.pcap is an RSLinx session with a 1756-L71/B rev 20.55 (its identity object,
class 0x64 and the class 0x8E change-detection attributes, all over a connection);
enip_test.pcap is a 1756-ENBT/A answering ListIdentity.  Expected values were read
independently with tshark (`tshark -r cip.pcap -Y "cip.class == 0x01" -O cip`).
"""

from __future__ import annotations

import pytest

from drivers.logix import LogixDriver
from drivers.logix_artifacts import controller_value
from integrity.model import Mode

L71_IDENTITY = {"vendor": "Rockwell Automation/Allen-Bradley",
                "product_type": "Programmable Logic Controller", "product_code": 92,
                "revision": "20.55", "serial": "00af7b1b", "product_name": "1756-L71/B LOGIX5571"}


@pytest.fixture
def recorded(enip_replay, enip_captures):
    replies = enip_replay.recorded_replies(enip_replay.read_frames(enip_captures / "cip.pcap"))
    ident = [f for f in enip_replay.read_frames(enip_captures / "enip_test.pcap")
             if f.command == 0x63 and f.src[1] == 44818]
    responders = []

    def start(list_identity: bool = True):
        r = enip_replay.Responder(replies, ident[0].data[24:] if list_identity else None)
        responders.append(r)
        return r

    yield start
    for r in responders:
        r.close()


def test_pcap_reader_pairs_the_recorded_requests(enip_replay, enip_captures):
    frames = enip_replay.read_frames(enip_captures / "cip.pcap")
    assert len(frames) > 1000 and {f.command for f in frames} <= {0x6F, 0x70}
    replies = enip_replay.recorded_replies(frames)
    assert (0x01, 0x01, 0x01, None, b"") in replies          # identity, Get_Attributes_All
    assert (0x0E, 0x8E, 0x01, 0x1B, b"") in replies          # AuditValue


def test_quick_capture_from_a_real_l71(recorded, endpoint_device):
    responder = recorded()
    with LogixDriver(endpoint_device(responder.port, timeout=2.0)) as driver:
        capture = driver.collect(Mode.QUICK)
    arts = capture.by_key()
    assert arts["identity"].value() == L71_IDENTITY
    assert arts["change-detection"].value() == {
        "available": True, "audit_value": "0xc9c30c982871104f",
        "changes_to_detect": "0xffffffffffffffff"}
    asked = {k[:4] for k in responder.asked}
    assert (0x0E, 0x8E, 1, 0x1B) in asked and (0x0E, 0x8E, 1, 0x1C) in asked


def test_keyswitch_and_class_0x64_from_a_real_l71(recorded, endpoint_device):
    responder = recorded()
    driver = LogixDriver(endpoint_device(responder.port, timeout=2.0))
    with driver.session(upload_tags=False) as plc:
        state = controller_value(plc.info)
    # Status word 0x3160: extended status 6 with bits 4-5 of the high byte = remote run.
    # Class 0x64 answers a UINT-length string first ("P1"), then attributes pycomm3 ignores.
    assert state == {"keyswitch": "REMOTE RUN", "name": "P1"}


def test_list_identity_of_a_real_enbt(recorded, endpoint_device):
    responder = recorded()
    driver = LogixDriver(endpoint_device(responder.port, timeout=2.0))
    with driver.session(upload_tags=False) as plc:
        ident = plc._list_identity()
    assert {k: ident[k] for k in ("vendor", "product_type", "product_code", "revision", "serial",
                                  "product_name", "ip_address", "state")} == {
        "vendor": "Rockwell Automation/Allen-Bradley", "product_type": "Communications Adapter",
        "product_code": 58, "revision": {"major": 4, "minor": 3}, "serial": "00524d8e",
        "product_name": "1756-ENBT/A", "ip_address": "10.1.1.164", "state": 3}
