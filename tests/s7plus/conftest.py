"""Fixtures for the S7CommPlus tests: the plc-trolley S7-1500 simulator (plain,
or TLS with a password).  Site, key, CLI runner and peers come from
tests/support/fixtures.py."""

from __future__ import annotations

import copy
from typing import Iterator

import pytest

from simulators.base import IMAGES, load_image
from simulators.s7plus import S7PlusSimulator

IMAGE = load_image(IMAGES / "crane" / "plc-trolley.json")
PASSWORD = "trolley-secret"


@pytest.fixture
def trolley() -> Iterator[S7PlusSimulator]:
    with S7PlusSimulator(copy.deepcopy(IMAGE)) as sim:
        yield sim


@pytest.fixture
def secure_trolley(monkeypatch) -> Iterator[S7PlusSimulator]:
    """TLS (V2) with a self-signed certificate and a password (legacy legitimation)."""
    monkeypatch.setenv("PLC_TROLLEY_PASSWORD", PASSWORD)
    with S7PlusSimulator(copy.deepcopy(IMAGE), tls=True, password=PASSWORD) as sim:
        yield sim
