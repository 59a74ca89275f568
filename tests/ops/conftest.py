"""Fixtures for unattended-operation tests: a real site, real simulators, real
local alert receivers, and a clock the tests move by hand.

Built on tests/support, which every test folder shares.
"""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from simulators.base import IMAGES, load_image
from support.receivers import HttpReceiver
from support.site import Cli, Inventory, add_to_site_toml

LOOPBACK = "127.0.0.1"
WAIT = 5.0  # generous: how long a receiver waits for something that should come at once
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


# --- inventory, CLI (site, run, peers: tests/support/fixtures.py) ------------------------------

def device_table(sim, **overrides) -> dict:
    """An inventory table for a running simulator, with a short timeout."""
    return Inventory.table(sim, **overrides)


def write_inventory(root: Path, *tables: dict) -> None:
    Inventory(root).write(*tables)


def capture_all(run: Cli, site: SimpleNamespace, *devices: str) -> None:
    r = run.capture(*devices)
    assert r.exit_code == 0, r.output


@pytest.fixture
def drive():
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        yield sim


DRIVES = 6


@pytest.fixture
def drives():
    """Six simulated drives, each its own Modbus simulator on an OS port."""
    from contextlib import ExitStack

    from simulators.modbus import ModbusSimulator

    with ExitStack() as stack:
        yield [stack.enter_context(ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")))
               for _ in range(DRIVES)]


@pytest.fixture
def plant():
    """The 'crane' plant: Logix, S7, S7CommPlus and Modbus simulators on OS ports."""
    from simulators.plant import Plant

    with Plant("crane") as p:
        yield p


# --- alert receivers ---------------------------------------------------------------------------

@pytest.fixture
def http_server() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


# --- a clock the test moves --------------------------------------------------------------------

class FakeClock:
    """The scheduler's Clock: ``sleep`` advances time instead of waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def advance(self, **kwargs: float) -> None:
        self.t += timedelta(**kwargs)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def read_jsonl(path: Path) -> list[dict]:
    import json

    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def helpers() -> SimpleNamespace:
    """Plain functions for the test modules (they cannot import this conftest)."""
    return SimpleNamespace(add_to_site_toml=add_to_site_toml, device_table=device_table,
                           write_inventory=write_inventory, capture_all=capture_all,
                           read_jsonl=read_jsonl, T0=T0, WAIT=WAIT, LOOPBACK=LOOPBACK)
