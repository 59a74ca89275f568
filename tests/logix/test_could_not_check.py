""""Could not check" is never a value: endpoints pycomm3 cannot address, a controller
that changes while it is read, refused or malformed change-detection and module
replies, and config tags the controller does not have each raise their own
DeviceError, never a capture."""

from __future__ import annotations

import re

import pytest

from drivers.logix import LogixDriver, LogixOptions
from integrity.errors import (
    DeviceAccessDeniedError,
    DeviceIncompleteError,
    DeviceProtocolError,
    DeviceUnreachableError,
)
from integrity.model import Device, Mode


def _collect(device, mode=Mode.DEEP):
    with LogixDriver(device) as driver:
        return driver.collect(mode)


# -- endpoints pycomm3 cannot address --------------------------------------------------

@pytest.mark.parametrize("host, port, words", [
    pytest.param("127.0.0.1", 65535, "pycomm3 cannot address port 65535", id="port-65535"),
    pytest.param("::1", 44818, "pycomm3 cannot address host '::1'", id="ipv6-loopback"),
    pytest.param("fe80::1%eth9", 44818, "pycomm3 cannot address host 'fe80::1%eth9'",
                 id="ipv6-link-local"),
    pytest.param("a" * 64 + ".plant.example", 44818, "cannot resolve host", id="label-too-long"),
])
@pytest.mark.parametrize("mode", [Mode.QUICK, Mode.DEEP], ids=["quick", "deep"])
def test_endpoints_pycomm3_cannot_address_are_unreachable(host, port, words, mode):
    device = Device("plc-x", "logix", host, port, LogixOptions(), timeout=0.5)
    with pytest.raises(DeviceUnreachableError, match=re.escape(words)) as info:
        _collect(device, mode)
    assert info.value.exit_code == 3 and info.value.device == "plc-x"


# -- a controller that changes while it is read -----------------------------------------

@pytest.mark.parametrize("when", [
    pytest.param("cip:0x55@0x6b", id="as-the-tag-upload-starts"),
    pytest.param("cip:0x4c@0x6c", id="during-the-udt-upload"),
    pytest.param("cip:0x01", id="while-reading-the-controller-name"),
])
def test_a_download_during_a_deep_read_is_never_captured(gantry, collect, when):
    if when == "cip:0x01":
        # The first 0x01 requests belong to open(); the first AuditValue read comes
        # after them, so this lands on the controller-name read inside the bracket.
        gantry.change_on("cip:0x0e", lambda: gantry.change_on(
            "cip:0x01", lambda: gantry.add_udt_member("Alarm", "Severity", "DINT")))
    else:
        gantry.change_on(when, lambda: gantry.add_udt_member("Alarm", "Severity", "DINT"))
    with pytest.raises(DeviceIncompleteError, match="changed while it was being read.*check "
                       "again"):
        collect(gantry)
    # Checking again yields one state: the new layout with the new AuditValue.
    capture = collect(gantry).by_key()
    assert "Severity" in capture["udt/Alarm"].value()["members"]
    assert capture["change-detection"].value()["audit_value"] == f"0x{gantry.audit_value:016x}"


def test_a_download_before_the_first_audit_value_read_gives_one_consistent_state(gantry,
                                                                                  collect):
    # Lands as the first AuditValue read arrives, before it is answered: the capture
    # is entirely the new program.
    gantry.change_on("cip:0x0e", lambda: gantry.edit_routine("Trolley", "Bypass", "NOP();"))
    capture = collect(gantry).by_key()
    assert "Bypass" in capture["programs"].value()["Trolley"]["routines"]
    assert capture["change-detection"].value()["audit_value"] == f"0x{gantry.audit_value:016x}"


# -- change detection answers ----------------------------------------------------------------

@pytest.mark.parametrize("status, error, words", [
    pytest.param(0x0F, DeviceAccessDeniedError, "privilege violation", id="privilege"),
    pytest.param(0x0C, DeviceProtocolError, "CIP status 0x0c", id="object-state-conflict"),
    pytest.param(0x1E, DeviceProtocolError, "CIP status 0x1e", id="embedded-error"),
])
@pytest.mark.parametrize("mode", [Mode.QUICK, Mode.DEEP], ids=["quick", "deep"])
def test_change_detection_errors_are_not_unavailable(simulator, gantry_image, device_for, status,
                                                     error, words, mode):
    gantry_image["change_detection"]["status"] = status
    sim = simulator(gantry_image)
    with pytest.raises(error, match=f"audit_value.*{words}"):
        _collect(device_for(sim), mode)


@pytest.mark.parametrize("status, words", [
    pytest.param(0x08, "service not supported", id="service"),
    pytest.param(0x14, "attribute not supported", id="attribute"),
    pytest.param(0x16, "object does not exist", id="object"),
])
def test_no_change_detection_is_recorded_in_our_own_words(simulator, gantry_image, device_for,
                                                          status, words):
    gantry_image["change_detection"]["status"] = status
    sim = simulator(gantry_image)
    cd = _collect(device_for(sim), Mode.QUICK).by_key()["change-detection"].value()
    assert cd == {"available": False, "reason": f"CIP status 0x{status:02x}: {words}"}


@pytest.fixture
def l71_with(enip_replay, enip_captures):
    """The recorded 1756-L71 (cip.pcap), with its AuditValue reply replaced."""
    base = enip_replay.recorded_replies(enip_replay.read_frames(enip_captures / "cip.pcap"))
    responders = []

    def start(audit_reply: bytes):
        r = enip_replay.Responder({**base, (0x0E, 0x8E, 1, 0x1B, b""): audit_reply})
        responders.append(r)
        return r

    yield start
    for r in responders:
        r.close()


@pytest.mark.parametrize("reply, words", [
    pytest.param(bytes([0x8E, 0, 0, 0]) + b"\x01\x02\x03", "3-byte reply, 8 expected",
                 id="short"),
    pytest.param(bytes([0x8E, 0]), "malformed reply", id="truncated-header"),
    pytest.param(bytes([0x8E, 0, 0, 2, 1]), "malformed reply", id="truncated-extended-status"),
])
def test_short_or_malformed_audit_value_is_a_protocol_error(l71_with, endpoint_device, reply,
                                                            words):
    responder = l71_with(reply)
    with pytest.raises(DeviceProtocolError, match=f"audit_value.*{re.escape(words)}"):
        _collect(endpoint_device(responder.port, timeout=2.0), Mode.QUICK)


# -- modules -----------------------------------------------------------------------------

def test_an_empty_slot_is_recorded_without_library_text(gantry, collect):
    value = collect(gantry, modules=[1, 5]).by_key()["module/5"].value()
    assert value == {"present": False,
                     "reason": "CIP status 0x01/0x0312: link address not available"}


@pytest.mark.parametrize("status, error, words", [
    pytest.param([0x01, 0x0204], DeviceProtocolError, "CIP status 0x01/0x0204",
                 id="unconnected-send-timeout"),
    pytest.param([0x0F], DeviceAccessDeniedError, "privilege violation", id="privilege"),
    pytest.param([0x08], DeviceProtocolError, "CIP status 0x08", id="not-supported"),
])
def test_a_module_that_answers_with_an_error_is_not_absent(simulator, gantry_image, device_for,
                                                           status, error, words):
    gantry_image["modules"]["3"] = {"status": status}
    sim = simulator(gantry_image)
    with pytest.raises(error, match=f"slot 3: {words}"):
        _collect(device_for(sim, modules=[1, 3]))


# -- config tags ---------------------------------------------------------------------------

@pytest.mark.parametrize("config_tags, words", [
    pytest.param(["Gantry_MaxSpeed", "Gantry_MaxSpeedd"], "'Gantry_MaxSpeedd' does not exist",
                 id="misspelt-name"),
    pytest.param(["Program:Hoist.No_Such_Tag"], "'Program:Hoist.No_Such_Tag' does not exist",
                 id="program-tag"),
    pytest.param(["Gantry_MaxSpeed", "Crane_*"], "pattern 'Crane_*' matches no tag",
                 id="pattern-matching-nothing"),
])
def test_config_tags_the_controller_does_not_have_are_incomplete(gantry, device_for,
                                                                 config_tags, words):
    with pytest.raises(DeviceIncompleteError) as info:
        _collect(device_for(gantry, config_tags=config_tags))
    assert "the inventory names tags the controller does not have" in str(info.value)
    assert words in str(info.value)
