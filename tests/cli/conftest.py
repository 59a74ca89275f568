"""Fixtures for end-to-end CLI tests: a real drive simulator, a real site, a real key."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.peers import Peer, closed_port as _closed_port
from support.site import Cli, Inventory, make_site


@pytest.fixture
def drive():
    from simulators.base import IMAGES, load_image
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        yield sim


@pytest.fixture
def site(tmp_path: Path):
    return make_site(tmp_path)


@pytest.fixture
def inventory(site):
    return Inventory(site.root)


@pytest.fixture
def run(site):
    return Cli(site)


@pytest.fixture
def silent_listener():
    with Peer() as peer:
        yield peer


@pytest.fixture
def resetting_listener():
    with Peer(reset=True) as peer:
        yield peer


@pytest.fixture
def closed_port():
    with _closed_port() as port:
        yield port
