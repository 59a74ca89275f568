"""Fixtures for the s7 end-to-end CLI tests: a real hoist CPU simulator.  The site, its key,
the CLI runner and the loopback peers come from tests/support/fixtures.py."""

from __future__ import annotations

import copy
from typing import Iterator

import pytest

from simulators.s7 import S7Simulator
from simulators.base import IMAGES, load_image

IMAGE = load_image(IMAGES / "crane" / "plc-hoist.json")


@pytest.fixture
def hoist() -> Iterator[S7Simulator]:
    with S7Simulator(copy.deepcopy(IMAGE)) as sim:
        yield sim
