"""Fixtures for the Logix tests: real simulators on loopback, real pycomm3 clients,
plain-socket misbehaving peers, and the read-only assertion.

Helpers are fixtures because test modules are imported with
--import-mode=importlib and cannot import each other.
"""

from __future__ import annotations

import copy
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from drivers.logix import LogixDriver
from integrity.model import Capture, Device, Mode
from simulators.base import IMAGES, load_image
from simulators.logix import LogixSimulator

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
GANTRY = IMAGES / "crane" / "plc-gantry.json"


@pytest.fixture
def gantry_image() -> dict[str, Any]:
    return copy.deepcopy(load_image(GANTRY))


@pytest.fixture
def simulator() -> Iterator[Callable[..., LogixSimulator]]:
    """Start a Logix simulator (default: the plc-gantry image, optionally changed)."""
    started: list[LogixSimulator] = []

    def start(image: dict[str, Any] | None = None, **changes: Any) -> LogixSimulator:
        img = copy.deepcopy(image if image is not None else load_image(GANTRY))
        img.update(changes)
        sim = LogixSimulator(img)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def gantry(simulator: Callable[..., LogixSimulator]) -> LogixSimulator:
    return simulator()


def _device_for(entry: dict[str, Any], timeout: float, **overrides: Any) -> Device:
    table = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
    table.update(overrides)
    options = LogixDriver.parse_options(table, file="test.toml", device=entry["name"])
    # No politeness ceiling (max_rps) on loopback: it only slows the tests (tests/core/test_pacing.py).
    return Device(entry["name"], "logix", entry["host"], entry["port"], options, timeout=timeout,
                  max_rps=None)


@pytest.fixture
def device_for() -> Callable[..., Device]:
    """Device for a running simulator, as its inventory entry declares it."""

    def make(sim: LogixSimulator, timeout: float = 2.0, **overrides: Any) -> Device:
        return _device_for(sim.inventory_entry(), timeout, **overrides)

    return make


@pytest.fixture
def endpoint_device() -> Callable[..., Device]:
    """Device for an arbitrary loopback port (refused / silent / wrong-protocol peers)."""

    def make(port: int, timeout: float = 0.5, **options: Any) -> Device:
        entry = {"name": "plc-x", "protocol": "logix", "host": "127.0.0.1", "port": port}
        return _device_for(entry, timeout, **options)

    return make


@pytest.fixture
def collect(device_for: Callable[..., Device]) -> Callable[..., Capture]:
    def run(sim: LogixSimulator, mode: Mode = Mode.DEEP, **overrides: Any) -> Capture:
        with LogixDriver(device_for(sim, **overrides)) as driver:
            return driver.collect(mode)

    return run


@pytest.fixture
def assert_only_reads() -> Callable[[LogixSimulator], None]:
    def check(sim: LogixSimulator) -> None:
        bad = [r for r in sim.requests if not r.read]
        assert sim.requests, "the simulator saw nothing"
        assert bad == [], f"non-read requests reached the simulator: {bad[:5]}"

    return check


class Peer:
    """A loopback TCP peer that accepts and then misbehaves (``behaviour(conn)``)."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def peer() -> Iterator[Callable[[Callable[[socket.socket], None]], Peer]]:
    peers: list[Peer] = []

    def start(behaviour: Callable[[socket.socket], None]) -> Peer:
        p = Peer(behaviour)
        peers.append(p)
        return p

    yield start
    for p in peers:
        p.close()


@pytest.fixture(scope="session")
def enip_replay():
    """The pcap reader and recorded-reply responder (tests/logix/enip_replay.py)."""
    import importlib.util
    import sys

    path = Path(__file__).with_name("enip_replay.py")
    spec = importlib.util.spec_from_file_location("logix_enip_replay", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def enip_captures() -> Path:
    folder = SHARED / "captures" / "enip"
    if not folder.is_dir():
        pytest.skip(f"shared captures not available at {folder}")
    return folder
