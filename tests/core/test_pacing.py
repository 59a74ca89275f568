"""The politeness ceiling: no device sees more than max_rps requests per second."""

import dataclasses
import time

import pytest

from drivers.modbus import ModbusDriver
from integrity.inventory import load_site
from integrity.model import Device, Mode
from simulators.base import IMAGES, load_image
from simulators.modbus import ModbusSimulator


@pytest.fixture
def drive():
    sim = ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json"))
    sim.start()
    yield sim
    sim.stop()


def _device(sim, max_rps):
    options = ModbusDriver.parse_options({"holding": ["0-1999"]}, file=None, device=sim.name)
    return Device(sim.name, "modbus", sim.host, sim.port, options, timeout=2.0, retries=0,
                  max_rps=max_rps)


def test_requests_are_spaced_by_the_ceiling(drive):
    rate = 40.0
    before = len(drive.requests)
    started = time.monotonic()
    with ModbusDriver(_device(drive, rate)) as driver:
        driver.collect(Mode.DEEP)
    elapsed = time.monotonic() - started
    sent = len(drive.requests) - before
    assert sent >= 16  # 2000 registers in chunks of 125, plus identity
    # A lower bound only: the ceiling can make a check slower, never faster.
    assert elapsed >= (sent - 1) / rate


def test_ceiling_comes_from_settings_and_device(tmp_path):
    (tmp_path / "site.toml").write_text(
        '[settings]\nmax_rps = 50\n\n[[devices]]\nname = "a"\nprotocol = "modbus"\nhost = "h"\n'
        'holding = ["0-9"]\n\n[[devices]]\nname = "b"\nprotocol = "modbus"\nhost = "h"\n'
        'holding = ["0-9"]\nmax_rps = 5\n')
    a, b = load_site(tmp_path).devices
    assert (a.max_rps, b.max_rps) == (50.0, 5.0)
    assert dataclasses.replace(a, max_rps=None).max_rps is None
