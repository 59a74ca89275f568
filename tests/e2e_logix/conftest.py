"""Fixtures for the logix end-to-end CLI tests: a real gantry controller simulator.  The site, its key,
the CLI runner and the loopback peers come from tests/support/fixtures.py."""

from __future__ import annotations

import copy
from typing import Iterator

import pytest

from simulators.logix import LogixSimulator
from simulators.base import IMAGES, load_image

IMAGE = load_image(IMAGES / "crane" / "plc-gantry.json")


@pytest.fixture
def gantry() -> Iterator[LogixSimulator]:
    with LogixSimulator(copy.deepcopy(IMAGE)) as sim:
        yield sim
