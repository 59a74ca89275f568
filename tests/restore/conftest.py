"""Fixtures for the restore tests: the crane plant on loopback and a site that
checks it, every device baselined (deep).  ``all_content`` keeps every S7 DB's
values (policy ``content``), S7-300/400 and S7-1200/1500 alike, so the backup can
rebuild the CPU whole."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

import pytest

from simulators.plant import Plant
from support.site import Cli, Inventory, make_site


@pytest.fixture
def crane() -> Iterator[Plant]:
    with Plant("crane") as plant:
        yield plant


@pytest.fixture
def baselined(tmp_path):
    """baselined(plant, all_content=...) -> a site with a deep baseline of every device."""
    return lambda plant, all_content=True: _baselined_site(tmp_path, plant, all_content)


def _baselined_site(tmp_path, plant: Plant, all_content: bool) -> SimpleNamespace:
    site = make_site(tmp_path)
    tables = []
    for sim in plant:
        table = Inventory.table(sim)
        if all_content and sim.protocol in ("s7", "s7plus"):
            table["dbs"] = {"1-65535": "content"}
        tables.append(table)
    Inventory(site.root).write(*tables)
    site.cli = Cli(site)
    r = site.cli.capture("--all", reason="commissioning")
    assert r.exit_code == 0, r.output
    return site
