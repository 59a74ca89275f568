"""Devices that cannot be checked: each failure is its own DeviceError, names the
device and the cause, and costs at most about timeout x (retries + 1).  Every
failure test runs on both read paths (``collect``: sync or asyncio)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from drivers.modbus import ModbusDriver
from integrity.errors import (
    DeviceError,
    DeviceProtocolError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ReadOnlyViolationError,
)

TIMEOUT = 0.5


def failing_collect(collect, device) -> tuple[DeviceError, float]:
    started = time.monotonic()
    with pytest.raises(DeviceError) as err:
        collect(device)
    return err.value, time.monotonic() - started


def test_refused_port_fails_at_once(collect, free_port, device):
    error, elapsed = failing_collect(collect, device(free_port, timeout=TIMEOUT, holding=["0-1999"]))
    assert type(error) is DeviceRefusedError
    assert "dut" in str(error) and "refused" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert elapsed < 4


def test_port_that_closes_on_connect(collect, peer, device):
    p = peer(lambda conn: conn.close())
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, holding=["0-1999"]))
    assert type(error) is DeviceRefusedError
    assert "dut" in str(error) and "closed" in str(error)
    assert error.__cause__ is not None
    assert elapsed < 4


def test_silent_listener_costs_one_timeout_per_attempt_for_the_whole_device(collect, peer, device):
    p = peer(lambda conn: p.recv_frame(conn) and p.stopped.wait(30))  # reads, never answers
    dev = device(p.port, timeout=TIMEOUT, retries=1, holding=["0-1999", "3000-3003"],
                 input=["0-9"])
    error, elapsed = failing_collect(collect, dev)
    assert type(error) is DeviceTimeoutError
    assert "dut" in str(error) and "no answer within 0.5 s" in str(error)
    assert error.__cause__ is not None
    # Fails fast: 2 attempts of the first request, not every range (that would be 2 x 18 x 0.5 s).
    assert elapsed < 5
    assert len(p.received) <= 2


def test_listener_that_never_reads_at_all(collect, peer, device):
    p = peer(None)  # accepts (via the backlog), never reads, never answers
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, retries=0, holding=["0-9"]))
    assert type(error) is DeviceTimeoutError
    assert elapsed < 5


def test_partial_reply_then_silence_is_a_timeout(collect, peer, device):
    def half(conn: socket.socket) -> None:
        while frame := p.recv_frame(conn):
            # The MBAP header of a 10-register answer and two of its bytes: then nothing.
            conn.sendall(frame[:4] + (23).to_bytes(2, "big") + frame[6:7] + b"\x03\x14\x00")
        p.stopped.wait(30)

    p = peer(half)
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, retries=1,
                                                     identity=False, holding=["0-9"]))
    assert type(error) is DeviceTimeoutError, error
    assert error.reason == "timeout" and "no complete answer within 0.5 s" in str(error)
    assert elapsed < TIMEOUT * 2 + 1


def test_non_modbus_peer_is_a_protocol_error(collect, peer, device):
    def http(conn: socket.socket) -> None:
        conn.recv(1024)  # like a web server answering a binary request
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    p = peer(http)
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, holding=["0-9"]))
    assert type(error) is DeviceProtocolError
    assert "dut" in str(error) and "does not speak Modbus TCP" in str(error) and "HTTP" in str(error)
    assert error.__cause__ is not None
    assert elapsed < 5


def test_peer_that_streams_garbage_without_closing(collect, peer, device):
    def noisy(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"\xde\xad\xbe\xef" * 4)
        p.stopped.wait(30)

    p = peer(noisy)
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, holding=["0-9"]))
    assert type(error) is DeviceProtocolError
    assert elapsed < 5


@pytest.mark.parametrize("pdu", [
    pytest.param(bytes.fromhex("0302") + b"\x00\x01", id="fewer-registers"),
    pytest.param(bytes.fromhex("030a") + b"\x00\x01", id="byte-count-lies"),
    pytest.param(bytes.fromhex("0402") + b"\x00\x01" * 5, id="wrong-function"),
])
def test_malformed_register_reply_is_a_protocol_error(collect, peer, device, pdu):
    def answer(conn: socket.socket) -> None:
        while frame := p.recv_frame(conn):
            conn.sendall(frame[:4] + (len(pdu) + 1).to_bytes(2, "big") + frame[6:7] + pdu)

    p = peer(answer)
    error, elapsed = failing_collect(collect, device(p.port, timeout=TIMEOUT, identity=False,
                                            holding=["0-4"]))
    assert type(error) is DeviceProtocolError and "holding 0-4" in str(error)
    assert elapsed < 5


def test_wrong_unit_answer_is_a_protocol_error(collect, simulator, device):
    sim = simulator()
    error, _ = failing_collect(collect, device(sim.port, unit=7, identity=False, holding=["0-9"]))
    assert type(error) is DeviceProtocolError and "exception 11" in str(error)


def test_no_pymodbus_exception_escapes_on_unreachable_host(collect, device):
    # Port 0 cannot be connected to: an OSError the driver must translate too.
    error, elapsed = failing_collect(collect, device(0, timeout=TIMEOUT, holding=["0-9"]))
    assert isinstance(error, DeviceError) and elapsed < 5


# --- read-only guard -----------------------------------------------------------------

# Each returns the reply, or on the asyncio client a coroutine of it.
WRITE_ATTEMPTS = [
    pytest.param(lambda c: c.write_register(17, 1, device_id=1), id="FC6"),
    pytest.param(lambda c: c.write_registers(0, [1, 2], device_id=1), id="FC16"),
    pytest.param(lambda c: c.write_coil(0, True, device_id=1), id="FC5"),
    pytest.param(lambda c: c.write_coils(0, [True], device_id=1), id="FC15"),
    pytest.param(lambda c: c.readwrite_registers(read_address=0, read_count=1, write_address=0,
                                                 values=[1], device_id=1), id="FC23"),
    pytest.param(lambda c: c.mask_write_register(address=0, and_mask=0, or_mask=1, device_id=1),
                 id="FC22"),
    pytest.param(lambda c: c.diag_restart_communication(False, device_id=1), id="FC8"),
]


@pytest.mark.parametrize("attempt", WRITE_ATTEMPTS)
def test_write_through_the_driver_client_is_refused_before_sending(simulator, device, attempt):
    sim = simulator()
    drv = ModbusDriver(device(sim.port, holding=["0-9"]))
    try:
        client = drv.connect()
        with pytest.raises(ReadOnlyViolationError):
            attempt(client)
        # The connection is still usable and the device saw nothing but this read.
        assert client.read_holding_registers(17, count=1, device_id=1).registers == [119]
    finally:
        drv.close()
    assert [r.operation for r in sim.requests] == ["FC3"]
    assert sim.values("holding", 0, 2) == [0, 7]


def test_guard_also_sits_below_execute(simulator, device):
    """A PDU pushed straight into the transaction layer is stopped by the trace hook."""
    from pymodbus.pdu.register_message import WriteSingleRegisterRequest

    sim = simulator()
    drv = ModbusDriver(device(sim.port, holding=["0-9"]))
    try:
        client = drv.connect()
        with pytest.raises(ReadOnlyViolationError):
            client.transaction.sync_execute(False, WriteSingleRegisterRequest(dev_id=1, address=17, registers=[1]))
    finally:
        drv.close()
    time.sleep(0.05)  # give a (wrongly) sent frame time to arrive before asserting absence
    assert sim.requests == []


@pytest.mark.parametrize("attempt", WRITE_ATTEMPTS)
def test_write_through_the_async_client_is_refused_before_sending(simulator, device, attempt):
    sim = simulator()

    async def scenario() -> list[int]:
        async with ModbusDriver(device(sim.port, holding=["0-9"])) as drv:
            client = await drv.connect_async()
            with pytest.raises(ReadOnlyViolationError):
                await attempt(client)
            # The connection is still usable and the device saw nothing but this read.
            return (await client.read_holding_registers(17, count=1, device_id=1)).registers

    assert asyncio.run(scenario()) == [119]
    assert [r.operation for r in sim.requests] == ["FC3"]
    assert sim.values("holding", 0, 2) == [0, 7]


def test_async_guard_also_sits_below_execute(simulator, device):
    """A PDU pushed straight into the async client's send point (below ``execute``,
    where every attempt is framed and written) is stopped there, before it is framed."""
    from pymodbus.pdu.register_message import WriteSingleRegisterRequest

    sim = simulator()

    async def scenario() -> None:
        async with ModbusDriver(device(sim.port, holding=["0-9"])) as drv:
            client = await drv.connect_async()
            with pytest.raises(ReadOnlyViolationError):
                await client.transact(WriteSingleRegisterRequest(dev_id=1, address=17,
                                                                 registers=[1]))
            await asyncio.sleep(0.05)  # give a (wrongly) sent frame time to arrive

    asyncio.run(scenario())
    assert sim.requests == []
