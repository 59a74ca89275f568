"""The inventory files plc-integrity writes (``sim start --inventory-out``) read back
exactly, whatever the strings hold."""

from __future__ import annotations

import tomllib

import pytest

from simulators.plant import Plant


@pytest.mark.parametrize("name", [
    pytest.param("vfd\x7fhoist", id="DEL"),  # the hand-written writer left it raw: invalid TOML
    pytest.param("vfd\x00\x1f\x08hoist", id="control-characters"),
    pytest.param('vfd "hoist" \\ 1', id="quotes-and-backslash"),
    pytest.param("vfd\nhoist\r\t", id="newlines-and-tab"),
    pytest.param("Kran 3 – Hubwerk ä", id="non-ascii"),
])
def test_written_inventory_reads_back_exactly(name):
    plant = Plant("crane")  # not started: entries carry port 0, enough to write
    plant.simulators[0].name = name
    written = tomllib.loads(plant.inventory_toml())["devices"]
    assert written == [plant.entry(sim) for sim in plant]
    assert written[0]["name"] == name


def test_written_inventory_starts_with_its_header():
    assert Plant("crane").inventory_toml().startswith("# Inventory of the simulated 'crane' plant")
