"""Fixtures for end-to-end CLI tests: a real drive simulator.  The site, its key,
the CLI runner and the loopback peers come from tests/support/fixtures.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def drive():
    from simulators.base import IMAGES, load_image
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        yield sim
