"""Fixtures for the backup tests: the crane plant on loopback, a site with a
deep baseline of every device, and a bundle exported from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from simulators.plant import Plant
from support.site import Cli, Inventory, make_site


@pytest.fixture(scope="module")
def crane() -> Iterator[Plant]:
    with Plant("crane") as plant:
        yield plant


@pytest.fixture(scope="module")
def crane_site(crane, tmp_path_factory) -> SimpleNamespace:
    """A site that checks the running crane plant, every device baselined (deep)."""
    site = make_site(tmp_path_factory.mktemp("crane"))
    Inventory(site.root).write(*(Inventory.table(sim) for sim in crane))
    cli = Cli(site)
    r = cli.capture("--all", reason="commissioning")
    assert r.exit_code == 0, r.output
    site.cli = cli
    return site


@pytest.fixture(scope="module")
def bundle(crane_site, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "crane.plcbak"
    r = crane_site.cli("backup", "export", "--all", "--out", str(path))
    assert r.exit_code == 0, r.output
    return path
