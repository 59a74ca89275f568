"""Fixtures for the trust tests: a real drive simulator in an inventory of the
test site (site, run and inventory come from tests/support/fixtures.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def hoist(inventory):
    """The hoist drive, running, and written into the site's inventory."""
    from simulators.base import IMAGES, load_image
    from simulators.modbus import ModbusSimulator

    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        inventory.write(inventory.table(sim))
        yield sim
