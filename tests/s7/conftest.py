"""Fixtures for the S7 tests: a started hoist CPU simulator, devices pointing at
it, and the helpers in this folder (loaded by path: pytest runs with
--import-mode=importlib, so test modules cannot import their neighbours)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

from drivers.s7 import S7Driver
from integrity.model import Capture, Device, Mode
from simulators.base import IMAGES, load_image
from simulators.s7 import S7Simulator

HERE = Path(__file__).resolve().parent
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "captures" / "s7"
_HOIST = load_image(IMAGES / "crane" / "plc-hoist.json")


def _load(name: str) -> ModuleType:
    qualified = f"s7_tests_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, HERE / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]


@pytest.fixture
def pcap() -> ModuleType:
    return _load("pcap_reader")


@pytest.fixture
def replay() -> ModuleType:
    return _load("replay")


@pytest.fixture
def captures() -> Path:
    if not CAPTURES.is_dir():
        pytest.skip(f"real S7 captures not found at {CAPTURES} (the shared folder beside the checkout)")
    return CAPTURES


@pytest.fixture
def hoist_image() -> dict[str, Any]:
    return copy.deepcopy(_HOIST)


@pytest.fixture
def sim(hoist_image: dict[str, Any]) -> Iterator[S7Simulator]:
    with S7Simulator(hoist_image) as simulator:
        yield simulator


def device_for(entry: dict[str, Any], *, timeout: float = 2.0, retries: int = 0) -> Device:
    """A Device from an inventory entry, the way the inventory builds it."""
    table = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
    options = S7Driver.parse_options(table, file="test.toml", device=entry["name"])
    # No politeness ceiling on loopback: it only slows the tests (tests/core/test_pacing.py).
    return Device(entry["name"], "s7", entry["host"], entry["port"], options=options,
                  timeout=timeout, retries=retries, max_rps=None)


@pytest.fixture
def device(sim: S7Simulator) -> Device:
    return device_for(sim.inventory_entry())


@pytest.fixture
def collect() -> Callable[..., Capture]:
    def run(device: Device, mode: Mode = Mode.DEEP) -> Capture:
        with S7Driver(device) as driver:
            return driver.collect(mode)
    return run


@pytest.fixture
def make_device() -> Callable[..., Device]:
    return device_for
