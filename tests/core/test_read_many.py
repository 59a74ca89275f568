"""read_many: Modbus on the event loop, S7 on threads, one limit, results as promised."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timezone

import pytest

from drivers.base import Driver
from drivers.registry import driver_class
from integrity.check import read_many
from integrity.errors import DeviceRefusedError, DeviceUnreachableError, DriverFailureError
from integrity.model import Artifact, Capture, Device, Kind, Mode
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


class _CountingDriver(Driver):
    """A fake on our own interface: counts the reads started, answers at once, or
    (``device.name`` starting with "slow") once the test lets it."""

    protocol = "modbus"
    default_port = 502
    READ_OPERATIONS = frozenset()
    lock = threading.Lock()
    started: list[str] = []
    let_slow_go = threading.Event()

    @classmethod
    def parse_options(cls, table, *, file, device):
        return None

    def collect(self, mode=Mode.DEEP, *, now=None):
        with self.lock:
            self.started.append(self.device.name)
        if self.device.name.startswith("slow"):
            self.let_slow_go.wait(30)
        return Capture(self.device.name, "modbus", mode, datetime.now(timezone.utc),
                       (Artifact.from_value("identity", Kind.IDENTITY, {"ok": True}),))


@pytest.fixture
def counting():
    _CountingDriver.started.clear()
    _CountingDriver.let_slow_go.clear()
    yield _CountingDriver
    _CountingDriver.let_slow_go.set()


def _fakes(n: int, first: str = "fake") -> list[Device]:
    return [Device(first if i == 0 else f"fake-{i}", "modbus", "127.0.0.1", 1, None,
                   timeout=5.0, retries=0) for i in range(n)]


def _until(condition, what: str) -> None:
    """Wait for something the code under test must reach (not a timed assertion)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "as-finished"])
def test_readers_hold_back_while_the_caller_does(counting, ordered):
    """A caller that falls behind holds the readers back: at most 2 x concurrency
    finished reads wait for it, however many devices are left."""
    devices = _fakes(300)
    outcomes = read_many(devices, Mode.DEEP, concurrency=4, driver_factory=counting,
                         ordered=ordered)
    taken = [next(outcomes).device.name]
    _until(lambda: outcomes.waiting == 4, "every reader waits for the caller")
    assert len(counting.started) <= len(taken) + 2 * 4
    taken += [o.device.name for o in outcomes]  # taking again lets them go on
    assert sorted(taken) == sorted(d.name for d in devices)
    assert sorted(counting.started) == sorted(taken)  # each device read once


def test_in_order_a_slow_first_device_holds_back_the_rest(counting):
    """In order, the reads that finished behind a slow one wait for it, bounded too."""
    devices = _fakes(300, first="slow")
    outcomes = read_many(devices, Mode.DEEP, concurrency=4, driver_factory=counting)
    _until(lambda: outcomes.waiting == 3, "the three other readers wait")
    assert len(counting.started) <= 2 * 4
    counting.let_slow_go.set()
    assert [o.device.name for o in outcomes] == [d.name for d in devices]


def test_a_caller_that_stops_taking_ends_the_readers(counting):
    before = set(threading.enumerate())
    outcomes = read_many(_fakes(300), Mode.DEEP, concurrency=4, driver_factory=counting,
                         ordered=False)
    next(outcomes)
    _until(lambda: outcomes.waiting == 4, "every reader waits for the caller")
    outcomes.close()
    _until(lambda: not any(t.name.startswith("plc-read") for t in
                           set(threading.enumerate()) - before), "every reader thread ends")
    assert len(counting.started) <= 1 + 2 * 4
