"""The read-only guard: frames built by s7commplus' own request builders are
classified, and a write-class request through our session is refused before
a byte of it reaches the device."""

from __future__ import annotations

import struct

import pytest
from s7commplus.client import _build_write_payload
from s7commplus.codec import encode_header
from s7commplus.protocol import DataType
from s7commplus.connection import (
    _build_session_activate_payload,
    _build_session_setup_frame,
    _build_set_variable_payload,
    _build_v1_legitimation_payload,
)
from s7commplus.v1_session_key.keys import KeyFamily
from s7commplus.vlq import encode_uint32_vlq

from drivers.s7plus import S7PlusDriver
from drivers.s7plus_guard import classify
from drivers.s7plus_session import Session
from integrity.errors import ReadOnlyViolationError
from integrity.model import Device

SESSION = 0x388


def frame(function: int, payload: bytes, session: int = SESSION, version: int = 2) -> bytes:
    request = struct.pack(">BHHHHIB", 0x31, 0, function, 0, 7, session, 0x34) + payload
    return encode_header(version, len(request)) + request + struct.pack(">BBH", 0x72, version, 0)


def download(type_code: int, number: int) -> bytes:  # s7commplus' download_block payload
    return struct.pack(">I", SESSION) + encode_uint32_vlq(1) + encode_uint32_vlq(type_code) \
        + encode_uint32_vlq(number) + bytes([0x00, 0x14]) + encode_uint32_vlq(1) + b"x" + bytes(4)


@pytest.mark.parametrize("function, payload, expected", [
    pytest.param(0x0542, _build_write_payload([(1, 0, b"\x01", DataType.BLOB)]), False, id="db-write"),
    pytest.param(0x057C, download(0x0C, 21), False, id="download-block"),
    pytest.param(0x04F2, _build_set_variable_payload(0x34, 2167, b"\x00\x04\x01"), False,
                 id="set-operating-state"),
    pytest.param(0x04F2, _build_set_variable_payload(SESSION, 1049, b"\x00\x04\x01"), False,
                 id="set-variable-other-address"),
    pytest.param(0x04CA, struct.pack(">I", 3) + bytes(8), False, id="create-object-in-program"),
    pytest.param(0x04D4, struct.pack(">I", 0x8A0E0001) + bytes(4), False, id="delete-db"),
    pytest.param(0x056B, bytes(8), False, id="invoke"),
    pytest.param(0x0556, bytes(8), False, id="begin-sequence"),
    pytest.param(0x04F2, _build_set_variable_payload(SESSION, 304, b"\x10\x02\x01\x00"), True,
                 id="legacy-legitimation"),
    pytest.param(0x04F2, _build_session_activate_payload(SESSION, 5), True, id="session-activate"),
    pytest.param(0x057C, _build_v1_legitimation_payload(SESSION, 5, b"b" * 8, KeyFamily.S7_1500), True,
                 id="v1-legitimation-blob"),
    pytest.param(0x04D4, struct.pack(">I", SESSION) + bytes(4), True, id="delete-own-session"),
    pytest.param(0x04BB, bytes(12), True, id="explore"),
])
def test_classify_library_built_requests(function, payload, expected):
    operation, allowed = classify(frame(function, payload))
    assert allowed is expected, operation


@pytest.mark.parametrize("security_key", [None, b"\x00\x17" + bytes(12)], ids=["plain", "with-security-key"])
def test_session_setup_frames_pass(security_key):
    version = bytes([0x00, 0x04, 0x01])  # a UDInt ServerSessionVersion
    built = _build_session_setup_frame(SESSION, 2, version, 1, security_key)
    assert classify(built) == ("session_setup", True)


def test_v3_frames_are_read_behind_their_hmac():
    request = struct.pack(">BHHHHIB", 0x31, 0, 0x0542, 0, 7, SESSION, 0x34) \
        + _build_write_payload([(1, 0, b"\x01", DataType.BLOB)])
    body = bytes([32]) + bytes(32) + request
    assert classify(encode_header(3, len(body)) + body)[1] is False


def test_garbage_is_refused():
    assert classify(b"\x72\x02\x00\x03abc")[1] is False
    assert classify(b"")[1] is False


@pytest.mark.parametrize("write", [
    pytest.param(lambda c: c.db_write(1, 0, b"\x00\x00\x00\x00"), id="db_write"),
    pytest.param(lambda c: c.download_block(0x0C, 21, b"evil"), id="download_block"),
])
def test_write_is_refused_before_anything_is_sent(trolley, write):
    device = Device("plc-trolley", "s7plus", trolley.host, trolley.port,
                    options=S7PlusDriver.parse_options({}, file=None, device="plc-trolley"), timeout=2)
    driver = S7PlusDriver(device)
    session = Session(driver, password=None)
    session.connect()
    try:
        seen = len(trolley.requests)
        before = trolley.program.memory[1].read(0, 16)
        with pytest.raises(ReadOnlyViolationError, match="refused"):
            write(session.client)
        # Also through the session's error translation: a refusal stays a refusal.
        with pytest.raises(ReadOnlyViolationError):
            session.call("write", lambda: write(session.client))
        assert len(trolley.requests) == seen  # the simulator received nothing
        assert trolley.program.memory[1].read(0, 16) == before
        assert trolley.program.find("FC", 21).code.startswith(b"L #In")
    finally:
        session.close()
    assert all(r.read for r in trolley.requests)
