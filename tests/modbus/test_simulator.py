"""The Modbus simulator on its own: recording, writes, snapshots, lifecycle."""

from __future__ import annotations

import json
import socket
import time
import tomllib

import pytest
from pymodbus.client import ModbusTcpClient

from simulators.base import mark_attacker
from simulators.modbus import ModbusSimulator, attacker_write_register
from simulators.plant import Plant


def wait_for_requests(sim, n: int) -> list:
    deadline = time.monotonic() + 4
    while len(sim.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.requests


def test_records_undecodable_function_codes_with_the_peer(simulator):
    sim = simulator()
    with socket.create_connection((sim.host, sim.port), timeout=2) as s:
        mark_attacker(s.getsockname()[:2])
        s.sendall(bytes.fromhex("000100000002" "01" "63"))  # FC 99: pymodbus cannot decode it
        reply = s.recv(64)
        s.sendall(bytes.fromhex("000200000004" "01" "2b0d00"))  # FC 43 but MEI 13 (CANopen)
        s.recv(64)
        peer = s.getsockname()[:2]
    # Exception 1 (illegal function); pymodbus 3.16.1 answers it with function code 0x80.
    assert reply[7] & 0x80 and reply[8] == 1
    reqs = wait_for_requests(sim, 2)
    assert [(r.operation, r.read, r.peer) for r in reqs] == [("FC99", False, peer), ("FC43", False, peer)]


def test_garbage_is_recorded_once_as_a_non_read(simulator):
    sim = simulator()
    with socket.create_connection((sim.host, sim.port), timeout=2) as s:
        mark_attacker(s.getsockname()[:2])
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.sendall(b"more junk")
        time.sleep(0.1)
    assert [(r.operation, r.read) for r in wait_for_requests(sim, 1)] == [("invalid-frame", False)]


def test_writes_are_served_like_a_device(simulator):
    sim = simulator()
    attacker_write_register(sim.host, sim.port, 1, 3000, 65535)
    assert sim.values("holding", 3000, 2) == [65535, 12]
    with pytest.raises(RuntimeError, match="refused"):
        attacker_write_register(sim.host, sim.port, 1, 2500, 1)  # in the gap: exception 2
    assert [r.operation for r in sim.requests] == ["FC6", "FC6"]


def test_snapshot_image_round_trips_with_changes(simulator):
    sim = simulator()
    sim.set_holding(3001, [99])
    sim.set_coils(10, [1])
    image = sim.snapshot_image()
    assert image["holding"][1] == {"start": 3000, "values": [11, 99, 13, 14]}
    assert image["coils"]["values"][-1] == 1
    json.dumps(image)  # an image is plain JSON
    clone = simulator(image)
    assert clone.snapshot_image() == image
    with pytest.raises(KeyError):
        sim.set_input(16, [1])


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        ModbusSimulator({"name": "x", "protocol": "modbus",
                         "holding": [{"start": 0, "values": [1, 2]}, {"start": 1, "values": [3]}]})
    with pytest.raises(ValueError, match="0..65535"):
        ModbusSimulator({"name": "x", "protocol": "modbus", "input": {"start": 0, "values": [70000]}})
    with pytest.raises(ValueError, match="unknown keys"):
        ModbusSimulator({"name": "x", "protocol": "modbus", "holdings": {}})


def test_stop_closes_clients_and_frees_the_port(simulator):
    sim = simulator()
    client = ModbusTcpClient(sim.host, port=sim.port, timeout=1, retries=0)
    assert client.connect()
    assert client.read_input_registers(0, count=2, device_id=1).registers == [100, 101]
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 4
    with pytest.raises(OSError):
        socket.create_connection((sim.host, sim.port), timeout=1).close()
    client.close()
    sim.stop()  # twice is fine


def test_crane_plant_inventory_declares_only_holding():
    with Plant("crane") as plant:
        drives = [s for s in plant if s.protocol == "modbus"]
        assert len(drives) == 3 and len({s.port for s in drives}) == 3
        for sim in drives:
            entry = sim.inventory_entry()
            assert entry == {"name": sim.name, "protocol": "modbus", "host": "127.0.0.1",
                             "port": sim.port, "unit": 1, "holding": ["0-1999"]}
        toml = plant.inventory_toml()
        assert tomllib.loads(toml)["devices"] == [plant.entry(s) for s in plant]
