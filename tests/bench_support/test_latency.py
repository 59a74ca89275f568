"""Each simulator holds every reply back by its ``latency`` (the fleet benchmark's device
answer time).  Only lower bounds are asserted: they cannot flake on a busy machine."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pymodbus.client import ModbusTcpClient
from snap7 import Client as S7Client

from simulators.base import Simulator
from simulators.logix import LogixSimulator
from simulators.modbus import ModbusSimulator
from simulators.s7 import S7Simulator

LATENCY = 0.05


def test_default_latency_is_zero(crane_image) -> None:
    assert ModbusSimulator(crane_image("vfd-hoist")).latency == 0.0


def test_negative_latency_is_refused(crane_image) -> None:
    with pytest.raises(ValueError, match="latency"):
        ModbusSimulator(crane_image("vfd-hoist"), latency=-1)


def test_modbus_reply_is_delayed(crane_image) -> None:
    with ModbusSimulator(crane_image("vfd-hoist"), latency=LATENCY) as sim:
        client = ModbusTcpClient(sim.host, port=sim.port, timeout=5, retries=0)
        try:
            assert client.connect()
            start = time.perf_counter()
            reply = client.read_holding_registers(0, count=10, device_id=sim.unit)
            elapsed = time.perf_counter() - start
        finally:
            client.close()
        assert not reply.isError()
        assert elapsed >= LATENCY
        assert [r.operation for r in sim.requests] == ["FC3"]


def test_s7_reply_is_delayed(crane_image) -> None:
    with S7Simulator(crane_image("plc-hoist"), latency=LATENCY) as sim:
        client = S7Client()
        try:
            client.connect(sim.host, 0, 2, sim.port)
            start = time.perf_counter()
            client.read_szl(0x0011, 0)
            elapsed = time.perf_counter() - start
        finally:
            client.disconnect()
        assert elapsed >= LATENCY
        assert [r.operation for r in sim.requests] == ["setup_communication", "read_szl"]


def _register_session(sim: Simulator) -> float:
    request = struct.pack("<HHII8sI", 0x65, 4, 0, 0, b"\0" * 8, 0) + b"\x01\x00\x00\x00"
    with socket.create_connection((sim.host, sim.port), timeout=5) as sock:
        start = time.perf_counter()
        sock.sendall(request)
        reply = b""
        while len(reply) < 28:
            chunk = sock.recv(28 - len(reply))
            assert chunk, "the simulator closed the connection"
            reply += chunk
        return time.perf_counter() - start


def test_logix_reply_is_delayed(crane_image) -> None:
    with LogixSimulator(crane_image("plc-gantry"), latency=LATENCY) as sim:
        elapsed = _register_session(sim)
        assert elapsed >= LATENCY
        assert [r.operation for r in sim.requests] == ["enip:register_session"]
