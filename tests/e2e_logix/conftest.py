"""Fixtures for the logix end-to-end CLI tests: a real gantry controller simulator, a real site with a
real signing key (tests/support), and loopback peers that are something else."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest

from simulators.logix import LogixSimulator
from simulators.base import IMAGES, load_image
from support.peers import Peer, closed_port as _closed_port
from support.site import Cli, Inventory, checker_only_read, make_site

IMAGE = load_image(IMAGES / "crane" / "plc-gantry.json")


@pytest.fixture
def gantry() -> Iterator[LogixSimulator]:
    with LogixSimulator(copy.deepcopy(IMAGE)) as sim:
        yield sim


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
def closed_port() -> Iterator[int]:
    with _closed_port() as port:
        yield port
