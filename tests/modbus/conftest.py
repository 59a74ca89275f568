"""Fixtures for the Modbus tests: real simulators, plain-socket peers, a tiny pcap reader.

Everything listens on 127.0.0.1 with ports from the OS.  Helpers live here as
fixtures because test modules are imported with --import-mode=importlib and
cannot import each other.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import struct
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from drivers.modbus import ModbusDriver
from integrity.model import Capture, Device, Mode
from simulators.base import load_image
from simulators.base import IMAGES
from simulators.modbus import ModbusSimulator

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "captures" / "modbus"

BASIC_IMAGE: dict[str, Any] = {
    "name": "plc-test", "protocol": "modbus", "unit": 1,
    "identity": {"vendor_name": "ACME Automation  ", "product_code": "AC-100",
                 "major_minor_revision": "V1.02", "product_name": "ACME PLC",
                 "model_name": "AC-100-B", "user_application_name": "LINE 3"},
    "holding": [{"start": 0, "values": [(i * 7) % 65536 for i in range(2000)]},
                {"start": 3000, "values": [11, 12, 13, 14]}],
    "input": {"start": 0, "values": [100 + i for i in range(16)]},
    "coils": {"start": 0, "values": [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0]},
    "discrete": {"start": 100, "values": [0, 1, 1]},
}


@pytest.fixture
def simulator() -> Callable[..., ModbusSimulator]:
    """Start a simulator from an image (default: BASIC_IMAGE, optionally changed)."""
    started: list[ModbusSimulator] = []

    def start(image: dict[str, Any] | None = None, **changes: Any) -> ModbusSimulator:
        img = copy.deepcopy(image if image is not None else BASIC_IMAGE)
        img.update(changes)
        sim = ModbusSimulator(img)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def basic_image() -> dict[str, Any]:
    """A fresh copy of BASIC_IMAGE to vary."""
    return copy.deepcopy(BASIC_IMAGE)


@pytest.fixture
def crane_image() -> Callable[[str], dict[str, Any]]:
    return lambda name: load_image(IMAGES / "crane" / f"{name}.json")


@pytest.fixture
def device() -> Callable[..., Device]:
    """A Device for host:port with the given inventory keys, parsed by the driver."""

    def build(port: int, *, timeout: float = 0.5, retries: int = 1, name: str = "dut",
              **keys: Any) -> Device:
        options = ModbusDriver.parse_options(keys, file="test.toml", device=name)
        # No politeness ceiling on loopback: it only slows the tests (tests/core/test_pacing.py).
        return Device(name, "modbus", "127.0.0.1", port, options=options, timeout=timeout,
                      retries=retries, max_rps=None)

    return build


# --- the two read paths ------------------------------------------------------------

def collect_sync(device: Device, mode: Mode = Mode.DEEP, **kw: Any) -> Capture:
    with ModbusDriver(device) as drv:
        return drv.collect(mode, **kw)


def collect_async(device: Device, mode: Mode = Mode.DEEP, **kw: Any) -> Capture:
    async def run() -> Capture:
        async with ModbusDriver(device) as drv:
            return await drv.collect_async(mode, **kw)

    return asyncio.run(run())


PATHS = {"sync": collect_sync, "async": collect_async}


@pytest.fixture(params=sorted(PATHS))
def collect(request: pytest.FixtureRequest) -> Callable[..., Capture]:
    """``collect(device, mode=DEEP, now=None)`` through one read path: every test that
    takes this fixture runs once on the sync client and once on the asyncio client."""
    return PATHS[request.param]


@pytest.fixture
def both_paths() -> dict[str, Callable[..., Capture]]:
    """Both read paths, for tests that compare them."""
    return dict(PATHS)


def only_reads(sim: ModbusSimulator) -> list[str]:
    """Operations the simulator saw that were not reads (should be empty)."""
    return [r.operation for r in sim.requests if not r.read]


@pytest.fixture
def assert_only_reads() -> Callable[[ModbusSimulator], None]:
    def check(sim: ModbusSimulator) -> None:
        assert sim.requests, "the simulator saw no request at all"
        assert only_reads(sim) == []
        assert {r.operation for r in sim.requests} <= {"FC1", "FC2", "FC3", "FC4", "FC43"}

    return check


# --- plain-socket peers ---------------------------------------------------------

class Peer:
    """A loopback TCP listener whose connections are served by ``handler(conn)``."""

    def __init__(self, handler: Callable[[socket.socket], None] | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.received: list[bytes] = []
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> threading.Event:
        """Set when the test ends: a handler that plays dead waits on it, not on sleep."""
        return self._stop

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self._conns.append(conn)
            if self.handler is not None:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)  # type: ignore[misc]
        except OSError:
            pass

    def recv_frame(self, conn: socket.socket) -> bytes:
        """One Modbus TCP request frame, or b"" when the client closed."""
        head = b""
        while len(head) < 6:
            chunk = conn.recv(6 - len(head))
            if not chunk:
                return b""
            head += chunk
        body = b""
        need = int.from_bytes(head[4:6], "big")
        while len(body) < need:
            chunk = conn.recv(need - len(body))
            if not chunk:
                return b""
            body += chunk
        self.received.append(head + body)
        return head + body

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[Callable[..., Peer]]:
    peers: list[Peer] = []

    def start(handler: Callable[[socket.socket], None] | None = None) -> Peer:
        p = Peer(handler)
        peers.append(p)
        return p

    yield start
    for p in peers:
        p.close()


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound by the OS, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- pcap -------------------------------------------------------------------------

def read_pcap(path: Path) -> list[tuple[int, int, bytes]]:
    """(source port, destination port, TCP payload) of each packet with a payload.

    Classic libpcap only (either byte order), Ethernet/IPv4/TCP: what the
    recorded captures are.  Raises ValueError on anything else.
    """
    data = path.read_bytes()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        order = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        order = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    linktype = struct.unpack(order + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
    out = []
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(order + "IIII", data[pos:pos + 16])[2]
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl, total, proto = (ip[0] & 0x0F) * 4, int.from_bytes(ip[2:4], "big"), ip[9]
        if proto != 6:
            continue
        tcp = ip[ihl:total]
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            out.append((sport, dport, payload))
    return out


@pytest.fixture
def m340_reply() -> bytes:
    """The recorded Schneider M340 answer to FC 43/14 basic (MBAP header included)."""
    path = CAPTURES / "mod_43.pcap"
    if not path.is_file():
        pytest.skip(f"recorded capture {path} is absent (the shared folder is not next to the repo)")
    replies = [p for sport, _d, p in read_pcap(path) if sport == 502 and p[7:9] == b"\x2b\x0e"]
    assert replies, "no FC 43/14 reply in the capture"
    return replies[0]
