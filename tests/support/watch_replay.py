"""Replays of the real captures in ../shared/captures through the watcher."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from integrity.model import Device
from integrity.watch.config import WatchPolicy
from integrity.watch.packets import read_file
from integrity.watch.wire import Wire

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "captures"

# The controllers in the captures, as an inventory would list them.
PLCS = [("s7", "134.249.61.182", 102), ("s7", "134.217.61.211", 102), ("s7", "134.249.61.163", 102),
        ("s7", "192.168.0.3", 102), ("s7", "192.168.1.191", 102), ("s7", "192.168.25.139", 102),
        ("logix", "192.168.10.120", 44818), ("logix", "192.168.1.10", 44818),
        ("logix", "192.168.0.101", 44818), ("logix", "10.1.1.164", 44818),
        ("logix", "192.168.10.121", 44818), ("logix", "192.168.166.120", 44818),
        ("logix", "192.168.1.11", 44818), ("modbus", "84.240.225.194", 502),
        ("modbus", "118.189.96.132", 502), ("modbus", "10.0.0.3", 502), ("modbus", "10.0.0.8", 502)]
DEVICES = [Device(name=f"plc-{host}", protocol=p, host=host, port=port) for p, host, port in PLCS]
EVERYONE = WatchPolicy(stations=(ipaddress.ip_network("0.0.0.0/0"),))


def capture(name: str) -> Path:
    path = CAPTURES / name
    if not path.is_file():
        pytest.skip(f"{path} is not there (the shared captures sit beside the worktree)")
    return path


def replay(name: str, devices=DEVICES, policy: WatchPolicy = EVERYONE):
    """All events of one capture, in packet-time order, and the wire's stats."""
    wire = Wire(devices, policy)
    events = []
    for seg in read_file(str(capture(name))):
        events += wire.segment(seg).events
    events += wire.finish().events
    events.sort(key=lambda e: (e.at, e.operation))
    return events, wire.stats
