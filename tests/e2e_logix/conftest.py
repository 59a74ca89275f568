"""Fixtures for the Logix end-to-end CLI tests: a real gantry controller simulator, a real
site with a real signing key, and loopback peers that are not Logix controllers.

Copied in shape from tests/cli/conftest.py on purpose: pytest runs with
--import-mode=importlib, so test folders cannot import each other.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from click.testing import CliRunner, Result

from integrity import tomlwriter
from integrity.cli import cli
from simulators.base import IMAGES, is_attacker, load_image
from simulators.logix import LogixSimulator

GANTRY = load_image(IMAGES / "crane" / "plc-gantry.json")
TIMEOUT = 0.5  # seconds, per device in the inventory


@pytest.fixture
def gantry() -> Iterator[LogixSimulator]:
    with LogixSimulator(copy.deepcopy(GANTRY)) as sim:
        yield sim


@pytest.fixture
def site(tmp_path: Path) -> SimpleNamespace:
    from baselines.signing import TrustStore, generate_keypair
    from integrity.site import init_site

    root = tmp_path / "site"
    init_site(root)
    key, pub, keyid = generate_keypair("tester", tmp_path / "keys", None)
    TrustStore(root / "trust").add(pub)
    return SimpleNamespace(root=root, key=key, keyid=keyid)


class Inventory:
    """Writes the site's devices/sim.toml."""

    def __init__(self, site_root: Path) -> None:
        self.site_root = site_root

    def write(self, *tables: dict[str, Any]) -> None:
        (self.site_root / "devices" / "sim.toml").write_text(
            tomlwriter.array_of_tables("devices", tables))

    @staticmethod
    def table(sim: Any, **overrides: Any) -> dict[str, Any]:
        table = {**sim.inventory_entry(), "timeout": TIMEOUT, "retries": 0}
        table.update(overrides)
        return table


@pytest.fixture
def inventory(site: SimpleNamespace) -> Inventory:
    return Inventory(site.root)


class Cli:
    """Runs plc-integrity against the test site, in process, through click."""

    def __init__(self, site: SimpleNamespace) -> None:
        self.site = site
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--site", str(self.site.root), *args],
                                  catch_exceptions=False)

    def capture(self, *args: str) -> Result:
        return self("baseline", "capture", *args, "--key", str(self.site.key),
                    "--reason", "e2e baseline")

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        """Run a --json command: exactly one JSON document on stdout."""
        r = self(*args, "--json")
        return r.exit_code, json.loads(r.stdout)

    def timed_json(self, *args: str) -> tuple[int, dict[str, Any], float]:
        started = time.monotonic()
        code, doc = self.json(*args)
        return code, doc, time.monotonic() - started


@pytest.fixture
def run(site: SimpleNamespace) -> Cli:
    return Cli(site)


def checker_only_read(sim: Any) -> None:
    mine = [r for r in sim.requests if not is_attacker(r.peer)]
    assert mine and all(r.read for r in mine), [r for r in mine if not r.read][:5]


@pytest.fixture
def only_reads():
    return checker_only_read


class Peer:
    """A loopback TCP peer that is not a Logix controller: it sends ``reply`` on
    connect (None: it accepts and stays silent), and keeps the connection open."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._open.append(conn)
            if self.reply is not None:
                conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._open:
            conn.close()
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[Any]:
    peers: list[Peer] = []

    def start(reply: bytes | None) -> Peer:
        peers.append(Peer(reply))
        return peers[-1]

    yield start
    for p in peers:
        p.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once closed: refused
