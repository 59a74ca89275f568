"""Fixtures for end-to-end CLI tests: a real drive simulator, a real site, a real key."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace
from pathlib import Path

import pytest
from click.testing import CliRunner

from integrity import tomlwriter
from integrity.cli import cli
from simulators.base import IMAGES, load_image


@pytest.fixture
def drive():
    from simulators.modbus import ModbusSimulator

    sim = ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json"))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def site(tmp_path: Path):
    from baselines.signing import TrustStore, generate_keypair
    from integrity.site import init_site

    root = tmp_path / "site"
    init_site(root)
    key, pub, keyid = generate_keypair("tester", tmp_path / "keys", None)
    TrustStore(root / "trust").add(pub)
    return SimpleNamespace(root=root, key=key, keyid=keyid, keys_dir=tmp_path / "keys")


class Inventory:
    """Writes devices/*.toml files into the test site."""

    def __init__(self, site_root: Path):
        self.site_root = site_root

    def write(self, *tables: dict, file: str = "sim.toml") -> None:
        (self.site_root / "devices" / file).write_text(tomlwriter.array_of_tables("devices", tables))

    @staticmethod
    def table(sim, **overrides) -> dict:
        table = {**sim.inventory_entry(), "timeout": 0.5, "retries": 0}
        table.update(overrides)
        return table


@pytest.fixture
def inventory(site):
    return Inventory(site.root)


class Invoke:
    def __init__(self, site_root: Path):
        self.site_root = site_root
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(cli, ["--site", str(self.site_root), *args], input=input,
                                  catch_exceptions=False)


@pytest.fixture
def run(site):
    return Invoke(site.root)


class SilentListener:
    """Accepts connections and never answers: the worst kind of dead device."""

    def __init__(self, close_at_once: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.close_at_once = close_at_once
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.close_at_once:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
            else:
                self.conns.append(conn)

    def close(self):
        self._stop.set()
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent_listener():
    lst = SilentListener()
    yield lst
    lst.close()


@pytest.fixture
def resetting_listener():
    lst = SilentListener(close_at_once=True)
    yield lst
    lst.close()


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now: connections are refused
    return port
