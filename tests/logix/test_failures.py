"""Peers that cannot be checked: each gives its own DeviceError (exit 3) with the
cause, within the configured timeout, and never a capture."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from drivers.logix import LogixDriver
from integrity.errors import (
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
)
from integrity.model import Mode

TIMEOUT = 0.5
MARGIN = 4.0  # generous: only proves we did not wait for pycomm3's 5 s default or loop forever


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _silent(conn: socket.socket) -> None:
    while conn.recv(4096):
        pass


def _http(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def _hang_up(conn: socket.socket) -> None:
    conn.close()


def _refuse_session(conn: socket.socket) -> None:
    head = conn.recv(4096)
    # An ENIP peer that answers RegisterSession with "unsupported protocol version".
    conn.sendall(struct.pack("<HHII8sI", 0x65, 4, 0, 0x69, head[12:20], 0) + b"\x01\x00\x00\x00")
    _silent(conn)


def _half_frame(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(struct.pack("<HH", 0x65, 4))  # a header that never completes
    _silent(conn)


def _collect(device, mode=Mode.DEEP):
    with LogixDriver(device) as driver:
        return driver.collect(mode)


@pytest.mark.parametrize("behaviour, error, words", [
    pytest.param(_silent, DeviceTimeoutError, "no answer within 0.5 s", id="silent"),
    pytest.param(_half_frame, DeviceTimeoutError, "no answer", id="half-frame"),
    pytest.param(_http, DeviceProtocolError, "not an EtherNet/IP reply", id="http-peer"),
    pytest.param(_hang_up, DeviceRefusedError, "connection closed by the device", id="hangs-up"),
    pytest.param(_refuse_session, DeviceProtocolError, "RegisterSession", id="session-refused"),
])
@pytest.mark.parametrize("mode", [Mode.QUICK, Mode.DEEP], ids=["quick", "deep"])
def test_misbehaving_peer(peer, endpoint_device, behaviour, error, words, mode):
    p = peer(behaviour)
    start = time.monotonic()
    with pytest.raises(error) as info:
        _collect(endpoint_device(p.port, timeout=TIMEOUT), mode)
    assert time.monotonic() - start < TIMEOUT + MARGIN
    assert words in str(info.value)
    assert info.value.exit_code == 3 and info.value.device == "plc-x"
    assert "127.0.0.1" in str(info.value)


def test_refused_port(endpoint_device):
    start = time.monotonic()
    with pytest.raises(DeviceRefusedError, match="connection refused") as info:
        _collect(endpoint_device(_closed_port()))
    assert time.monotonic() - start < MARGIN
    assert info.value.reason == "refused" and info.value.exit_code == 3


def test_wrong_slot_is_a_protocol_error_naming_the_cip_status(gantry, device_for):
    with pytest.raises(DeviceProtocolError, match="(?i)link address"):
        _collect(device_for(gantry, slot=5))


def test_a_stopped_controller_mid_check_never_yields_a_capture(gantry, device_for):
    device = device_for(gantry, timeout=TIMEOUT)
    with LogixDriver(device) as driver, driver.session(upload_tags=False) as plc:
        gantry.stop()
        start = time.monotonic()
        with pytest.raises(DeviceError) as info, driver.translated(plc):
            plc.get_tag_list()
        assert time.monotonic() - start < TIMEOUT + MARGIN
        assert info.value.exit_code == 3


def test_unreadable_config_tag_is_access_denied_not_a_partial_capture(simulator, gantry_image,
                                                                     device_for):
    from integrity.errors import DeviceAccessDeniedError
    gantry_image["tags"].append({"name": "Secret_Limit", "type": "REAL",
                                 "external_access": "Read Only"})
    sim = simulator(gantry_image)
    sim.controller.tags[(None, "Secret_Limit")].external_access = "None"
    with pytest.raises(DeviceAccessDeniedError, match="Secret_Limit"):
        _collect(device_for(sim, config_tags=["Secret_Limit"]))
