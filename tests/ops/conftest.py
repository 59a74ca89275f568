"""Fixtures for unattended-operation tests: a real site, real simulators, real
local alert receivers, and a clock the tests move by hand.

Copied in spirit from tests/cli and tests/alerts (pytest runs with
--import-mode=importlib, so folders cannot import each other's fixtures).
"""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
from click.testing import CliRunner

from integrity import tomlwriter
from integrity.cli import cli
from simulators.base import IMAGES, load_image

LOOPBACK = "127.0.0.1"
WAIT = 5.0  # generous: how long a receiver waits for something that should come at once
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


# --- site, inventory, CLI ----------------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> SimpleNamespace:
    from baselines.signing import TrustStore, generate_keypair
    from integrity.site import init_site

    root = tmp_path / "site"
    init_site(root)
    key, pub, keyid = generate_keypair("tester", tmp_path / "keys", None)
    TrustStore(root / "trust").add(pub)
    return SimpleNamespace(root=root, key=key, keyid=keyid)


def add_to_site_toml(root: Path, text: str) -> None:
    """Append tables ([[alerts]], [[schedules]], settings lines) to site.toml."""
    path = root / "site.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def device_table(sim, **overrides) -> dict:
    """An inventory table for a running simulator, with a short timeout."""
    return {**sim.inventory_entry(), "timeout": 0.5, "retries": 0, **overrides}


def write_inventory(root: Path, *tables: dict) -> None:
    (root / "devices" / "sim.toml").write_text(tomlwriter.array_of_tables("devices", tables))


class Invoke:
    def __init__(self, site_root: Path):
        self.site_root = site_root
        self.runner = CliRunner()

    def __call__(self, *args: str):
        return self.runner.invoke(cli, ["--site", str(self.site_root), *args],
                                  catch_exceptions=False)


@pytest.fixture
def run(site) -> Invoke:
    return Invoke(site.root)


def capture_all(run: Invoke, site: SimpleNamespace, *devices: str) -> None:
    r = run("baseline", "capture", *(devices or ("--all",)), "--key", str(site.key),
            "--reason", "test baseline")
    assert r.exit_code == 0, r.output


@pytest.fixture
def drive():
    from simulators.modbus import ModbusSimulator

    sim = ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json"))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def plant():
    """The 'crane' plant: Logix, S7 and Modbus simulators on OS ports."""
    from simulators.plant import Plant

    with Plant("crane") as p:
        yield p


# --- dead and silent peers ---------------------------------------------------------------------

@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    yield sock.getsockname()[1]
    sock.close()


class SilentListener:
    """Accepts connections and never answers; ``accepted`` is set at the first one."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0), backlog=16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(WAIT)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    lst = SilentListener()
    yield lst
    lst.close()


# --- alert receivers ---------------------------------------------------------------------------

@dataclass
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.requests: list[HttpRequest] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/hooks/plc"


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.requests.append(HttpRequest(self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_server() -> Iterator[_HttpServer]:
    server = _HttpServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
