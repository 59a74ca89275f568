"""Each real capture yields exactly the operations it holds, and read-only sessions none.

Expected lists are (operation, target) in packet-time order.  Where a capture's
description in captures/README.md calls a session read-only but the bytes say
otherwise, the comment says what the bytes hold.
"""

from __future__ import annotations

import ipaddress

import pytest

from integrity.watch.config import WatchPolicy
from support.watch_replay import replay

S7_DOWNLOAD = lambda block: [("s7.request-download", block), ("s7.download-block", block),  # noqa: E731
                             ("s7.download-ended", block), ("s7.activate-block", block)]

EXPECTED = [
    pytest.param("s7/step7_s300_download.pcapng", S7_DOWNLOAD("DB1"), id="step7-download"),
    pytest.param("s7/tia_s300_downloadOb1.pcapng", S7_DOWNLOAD("OB1"), id="tia-download"),
    pytest.param("s7/snap7_s300_stop.pcapng", [("s7.plc-stop", "")], id="s7-stop"),
    pytest.param("s7/step7_s300_rwVarTab.pcapng", [("s7.modify-variable", "MD0, MW4, IX8.1")] * 3,
                 id="var-table-write"),
    pytest.param("s7/snap7_s300_everything.pcapng", [
        ("s7.set-clock", ""), ("s7.write-var", "M16 x1"),
        ("s7.write-var", "M0 x16, I0 x16, Q0 x16, T0 x8, C0 x8"), ("s7.plc-stop", ""),
        ("s7.copy-ram-to-rom", ""), ("s7.compress-memory", ""), ("s7.plc-start", "cold restart")],
        id="snap7-demo"),
    pytest.param("modbus/modbusSmall.pcap", [("modbus.write-coils", "unit 1 coils 0-2")] * 8,
                 id="modbus-fc15"),
    pytest.param("modbus/modbus_test_data_part1.pcap", [
        ("modbus.force-listen-only", "unit 10"), ("modbus.restart-communications", "unit 10"),
        ("modbus.clear-counters", "unit 10"), ("modbus.write-coil", "unit 10 coil 2"),
        ("modbus.write-coil", "unit 10 coil 1"), ("modbus.write-register", "unit 10 holding 5")],
        id="modbus-fc5-6-8"),
    pytest.param("enip/cip-eth-set-2.pcap",
                 [("enip.set-attribute-single", "reply only (request not captured)")],
                 id="cip-set-attribute"),
    # The "tag upload" writes one INT (127) through Write Tag Fragmented on a symbol instance.
    pytest.param("enip/cip_1.pcap", [("enip.write-tag", "class 0x6B (symbol) instance 20476")],
                 id="cip-tag-upload-with-a-write"),
    # The RSLinx capture also holds a second station setting the controller clock.
    pytest.param("enip/cip.pcap", [("enip.set-clock", "class 0x8B (time) instance 1")],
                 id="cip-session-with-clock-set"),
    # An upload writes one 4-byte value into class 0xAC attribute 10: we do not hide it.
    pytest.param("enip/EIP-SoftwareUpload.pcap",
                 [("enip.set-attribute-list", "class 0xAC (controller-state) instance 1")],
                 id="logix-upload"),
    # TIA V12 creates one object under the PLC program while going online / uploading.
    pytest.param("s7plus/S7-1200-Uploading-OB1-TIAV12.pcap",
                 [("s7plus.create-object", "object 0x00000003")], id="s7plus-upload"),
    pytest.param("s7/tia_s300_goOnline.pcapng", [], id="tia-go-online-read-only"),
    pytest.param("modbus/mod_scan.pcap", [], id="modbus-identification-read-only"),
    pytest.param("modbus/mod_43.pcap", [], id="modbus-fc43-read-only"),
    pytest.param("enip/enip_test.pcap", [], id="enip-list-identity-read-only"),
    pytest.param("s7plus/S7-1511_db2_var1_HMI.pcap", [], id="s7plus-hmi-read-only"),
]


@pytest.mark.parametrize("name, expected", EXPECTED)
def test_capture_yields_exactly_its_operations(name, expected):
    events, stats = replay(name)
    assert [(e.operation, e.target) for e in events] == expected
    assert stats.decode_errors == 0


def test_logix_download_is_a_download_a_mode_change_and_nothing_read_only():
    events, _ = replay("enip/EIP-SoftwareDownload.pcap")
    ops = [e.operation for e in events]
    assert ops[:2] == ["enip.set-attribute-list", "enip.controller-mode-change"]
    assert events[1].target == "program" and events[-1].target == "run"
    assert {e.target for e in events if e.operation == "enip.program-download"} == {
        "class 0x68 (program)", "class 0x69 (routine)", "class 0x6A (task)", "class 0x6B (symbol)",
        "class 0x70"}
    assert all(e.change or e.operation == "enip.set-clock" for e in events)
    assert len(events) == 21  # one per operation and class, not one per object downloaded


def test_event_fields_name_station_device_and_codes():
    (event,) = replay("s7/snap7_s300_stop.pcapng")[0]
    doc = event.to_dict()
    assert doc["schema"] == 1 and doc["protocol"] == "s7"
    assert (doc["src"], doc["dst"], doc["dport"]) == ("134.249.62.206", "134.249.61.163", 102)
    assert doc["device"] == "plc-134.249.61.163"
    assert doc["codes"] == {"rosctr": "0x01", "function": "0x29", "pi_service": "P_PROGRAM"}
    assert doc["at"].startswith("2014-04-16T08:59:59")


def test_connections_from_stations_not_allowed_and_unknown_devices_are_events():
    nobody = WatchPolicy()
    events, _ = replay("s7plus/S7-1511_db2_var1_HMI.pcap", devices=[], policy=nobody)
    assert [(e.operation, e.device) for e in events] == [("unknown-device", None),
                                                          ("s7plus.session-setup", None)]
    events, _ = replay("enip/cip_1.pcap", policy=nobody)
    assert [e.operation for e in events] == ["enip.forward-open", "enip.write-tag"]
    assert not events[0].station_allowed and not events[0].change
    allowed = WatchPolicy(stations=(ipaddress.ip_network("192.168.0.0/24"),))
    events, _ = replay("enip/cip_1.pcap", policy=allowed)
    assert [e.operation for e in events] == ["enip.write-tag"]
