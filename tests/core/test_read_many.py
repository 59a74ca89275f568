"""read_many: Modbus on the event loop, S7 on threads, one limit, results as promised."""

from __future__ import annotations

import dataclasses

import pytest

from drivers.registry import driver_class
from integrity.check import read_many
from integrity.errors import DeviceRefusedError, DeviceUnreachableError, DriverFailureError
from integrity.model import Device, Mode
from simulators.base import IMAGES, load_image, simulator_for
from support.fakes import FakeDriver
from support.peers import closed_port


def _device(sim, **overrides) -> Device:
    entry = {**sim.inventory_entry(), **overrides}
    table = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
    options = driver_class(entry["protocol"]).parse_options(table, file=None, device=entry["name"])
    return Device(entry["name"], entry["protocol"], entry["host"], entry["port"], options,
                  timeout=2.0, retries=0, max_rps=None)


@pytest.fixture
def sims():
    started = [simulator_for(load_image(IMAGES / "crane" / f"{n}.json"))
               for n in ("plc-hoist", "vfd-hoist", "vfd-trolley", "vfd-gantry")]
    for s in started:
        s.start()
    yield started
    for s in started:
        s.stop()


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "as-finished"])
def test_mixed_protocols_all_read_once(sims, ordered):
    with closed_port() as port:
        devices = [_device(s) for s in sims] + [_device(sims[1], name="vfd-dead", port=port)]
        outcomes = list(read_many(devices, Mode.DEEP, concurrency=3, ordered=ordered))
    names = [o.device.name for o in outcomes]
    if ordered:
        assert names == [d.name for d in devices]
    assert sorted(names) == sorted(d.name for d in devices)
    by_name = {o.device.name: o for o in outcomes}
    assert isinstance(by_name["vfd-dead"].error, DeviceRefusedError)
    for sim in sims:
        assert by_name[sim.name].error is None
        assert by_name[sim.name].capture.device == sim.name


class _BuggyDriver(FakeDriver):
    """A fake on our own interface: its collect fails the way a bug would."""

    def collect(self, mode=Mode.DEEP, *, now=None):
        raise RuntimeError("boom")


def test_a_driver_bug_costs_one_device_not_the_sweep(sims):
    good = [_device(s) for s in sims[1:3]]
    buggy = Device("vfd-buggy", "modbus", "127.0.0.1", 1, None)

    def factory(device):
        return _BuggyDriver(device) if device.name == "vfd-buggy" else \
            driver_class(device.protocol)(device)

    outcomes = {o.device.name: o for o in read_many(good + [buggy], Mode.DEEP, concurrency=3,
                                                    driver_factory=factory)}
    assert isinstance(outcomes["vfd-buggy"].error, DriverFailureError)
    assert "RuntimeError: boom" in str(outcomes["vfd-buggy"].error)
    assert all(outcomes[d.name].capture is not None for d in good)


@pytest.mark.parametrize("host", [pytest.param("a" * 64 + ".example", id="idna-label-too-long"),
                                  pytest.param("bad\x00host", id="nul")])
def test_unusable_host_names_are_device_errors(host):
    from drivers.modbus import ModbusDriver

    options = ModbusDriver.parse_options({"holding": ["0-9"]}, file=None, device="vfd-x")
    device = Device("vfd-x", "modbus", host, 502, options, timeout=0.5, retries=0)
    [outcome] = list(read_many([device], Mode.DEEP))
    assert isinstance(outcome.error, DeviceUnreachableError)
    # the same on the event loop (two devices, so not the sequential path)
    both = list(read_many([device, dataclasses.replace(device, name="vfd-y")], Mode.DEEP,
                          concurrency=2))
    assert all(isinstance(o.error, DeviceUnreachableError) for o in both)
