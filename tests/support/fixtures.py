"""Fixtures every test folder may use (loaded by tests/conftest.py as a plugin):
a real site with a trusted key, its inventory writer, the CLI run against it,
and loopback peers that are not the expected device."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from support.peers import Peer, closed_port as _closed_port
from support.site import Cli, Inventory, checker_only_read, make_site


@pytest.fixture
def site(tmp_path: Path):
    return make_site(tmp_path)


@pytest.fixture
def inventory(site) -> Inventory:
    return Inventory(site.root)


@pytest.fixture
def run(site) -> Cli:
    return Cli(site)


@pytest.fixture
def only_reads():
    return checker_only_read


@pytest.fixture
def closed_port() -> Iterator[int]:
    with _closed_port() as port:
        yield port


@pytest.fixture
def silent_listener() -> Iterator[Peer]:
    """Accepts connections and never answers; ``accepted`` is set at the first one."""
    with Peer() as peer:
        yield peer


@pytest.fixture
def resetting_listener() -> Iterator[Peer]:
    with Peer(reset=True) as peer:
        yield peer


@pytest.fixture
def peer() -> Iterator[Any]:
    """Start loopback peers: peer(reply_bytes) answers that on connect, peer(None) is silent."""
    peers: list[Peer] = []

    def start(reply: bytes | None) -> Peer:
        peers.append(Peer(reply))
        return peers[-1]

    yield start
    for p in peers:
        p.close()


@pytest.fixture
def restore_traffic_marked() -> Iterator[None]:
    """Connections that restore's writers open are marked like an attacker's, so
    the suite's read-only ledger keeps proving that the checker only reads."""
    from restore.writers import CONNECT_HOOKS
    from simulators.base import mark_attacker

    CONNECT_HOOKS.append(mark_attacker)
    yield
    CONNECT_HOOKS.remove(mark_attacker)
