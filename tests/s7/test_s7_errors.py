"""Every way an S7 check can fail is its own DeviceError, fast, and never an empty program."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from drivers.s7 import S7Driver
from drivers.s7_session import S7Session
from integrity.errors import (
    DeviceAccessDeniedError,
    DeviceIncompleteError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ReadOnlyViolationError,
)
from integrity.model import Device, Mode
from support.peers import Peer, closed_port

TIMEOUT = 0.5
MARGIN = 4.0  # generous: two busy cores, never a tight timing assertion


@pytest.fixture
def silent_peer() -> Iterator[Peer]:
    peer = Peer(None)
    yield peer
    peer.close()


def _device(port: int, retries: int = 0) -> Device:
    options = S7Driver.parse_options({}, file=None, device="plc-x")
    return Device("plc-x", "s7", "127.0.0.1", port, options=options, timeout=TIMEOUT, retries=retries)


def _collect(device: Device, mode: Mode = Mode.DEEP):
    with S7Driver(device) as driver:
        return driver.collect(mode)


def test_refused_connection():
    with closed_port() as port:  # bound, not listening: refused
        started = time.monotonic()
        with pytest.raises(DeviceRefusedError,
                           match=r"plc-x \(127\.0\.0\.1:\d+\): connection refused"):
            _collect(_device(port))
    assert time.monotonic() - started < MARGIN


def test_silent_peer_times_out_within_the_configured_timeout(silent_peer):
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match=r"no answer within 0\.5 s") as err:
        _collect(_device(silent_peer.port))
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + MARGIN  # not snap7's 5 s
    assert err.value.device == "plc-x" and err.value.exit_code == 3


def test_silent_peer_is_retried_with_a_fresh_connection(silent_peer):
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError):
        _collect(_device(silent_peer.port, retries=1))
    assert time.monotonic() - started < 2 * TIMEOUT + MARGIN
    assert silent_peer.connections == 2


def test_peer_that_is_not_s7():
    peer = Peer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        with pytest.raises(DeviceProtocolError, match="does not speak S7"):
            _collect(_device(peer.port))
    finally:
        peer.close()


def test_protection_refusal_of_uploads(sim, device, collect):
    sim.set_protection(3)
    quick = collect(device, Mode.QUICK)  # no upload: still readable, and the level shows
    assert quick.by_key()["protection"].value()["sch_schal"] == 3
    with pytest.raises(DeviceAccessDeniedError, match=r"start upload OB 1: not permitted .*0xD241"):
        collect(device)


def test_missing_block_is_incomplete_not_an_empty_program(sim, device, collect):
    sim.checksums_valid = False  # so the quick check reads every block's info
    sim.refuse_block("FC", 10, 0xD209)  # listed, but gone when asked for
    with pytest.raises(DeviceIncompleteError, match=r"get block info FC 10: .*does not exist .*0xD209"):
        collect(device, Mode.QUICK)


@pytest.mark.parametrize("code, words", [
    pytest.param(0xD20C, "the OB cannot be copied: its priority class does not exist (0xD20C)",
                 id="D20C"),
    pytest.param(0x8304, "no further parallel upload possible (resource bottleneck) (0x8304)",
                 id="8304"),
    pytest.param(0xD2FF, "error 0xD2FF", id="unknown-code"),
])
def test_cpu_refusals_are_explained_in_words(sim, device, collect, code, words):
    sim.checksums_valid = False  # so the quick check reads every block's info
    sim.refuse_block("FC", 10, code)
    with pytest.raises(DeviceProtocolError) as info:
        collect(device, Mode.QUICK)
    assert str(info.value).endswith(f"get block info FC 10: the CPU refused: {words}")


def test_the_session_does_not_import_the_driver():
    """The driver uses the session; the session needs only the Driver interface,
    so the two modules no longer import each other (not even for typing)."""
    import ast
    import drivers.s7_session as session_module

    with open(session_module.__file__, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "drivers.s7" not in imported and "drivers.base" in imported


def test_connection_lost_mid_upload_is_reconnected(sim, make_device, collect):
    baseline = collect(make_device(sim.inventory_entry()))
    sim.drop_connection_on("upload")
    again = collect(make_device(sim.inventory_entry(), retries=1))
    assert again.fingerprint == baseline.fingerprint
    assert [r.operation for r in sim.requests].count("setup_communication") == 3
    sim.drop_connection_on("upload")
    with pytest.raises(DeviceRefusedError, match="connection closed by the device while upload"):
        collect(make_device(sim.inventory_entry(), retries=0))


def test_guard_refuses_writes_before_sending(sim, device):
    driver = S7Driver(device)
    session = S7Session(driver, driver.options.rack, driver.options.slot)
    session.connect()
    try:
        download = session.protocol.build_download_request(0x41, 10, b"\x00" * 80)
        with pytest.raises(ReadOnlyViolationError, match="request_download"):
            session._exchange("request_download", download)
        # a write built under a read's name is refused by its wire shape
        with pytest.raises(ReadOnlyViolationError, match="not the read that operation names"):
            session._exchange("read_szl", download)
        stop = session.protocol.build_plc_control_request("stop")
        with pytest.raises(ReadOnlyViolationError):
            session._exchange("upload", stop)
    finally:
        session.close()
    assert {r.operation for r in sim.requests} == {"setup_communication"}
    assert driver.READ_OPERATIONS == {"setup_communication", "read_szl", "list_blocks",
                                      "list_blocks_of_type", "get_block_info", "start_upload",
                                      "upload", "end_upload"}


def test_connection_is_closed_on_every_path(sim, device):
    driver = S7Driver(device)
    sim.checksums_valid = False  # so the quick check reads every block's info
    sim.refuse_block("FC", 1, 0xD209)
    with pytest.raises(DeviceIncompleteError):
        driver.collect(Mode.QUICK)
    assert driver._session is None
    sim.refuse_block("FC", 1, 0)
    driver.collect(Mode.QUICK)
    assert driver._session is None
