"""read_many: Modbus on the event loop, S7 on threads, one limit, results as promised."""

from __future__ import annotations

import pytest

from drivers.registry import driver_class
from integrity.check import read_many
from integrity.errors import DeviceRefusedError
from integrity.model import Device, Mode
from simulators.base import IMAGES, load_image, simulator_for
from support.peers import closed_port


def _device(sim, **overrides) -> Device:
    entry = {**sim.inventory_entry(), **overrides}
    table = {k: v for k, v in entry.items() if k not in ("name", "protocol", "host", "port")}
    options = driver_class(entry["protocol"]).parse_options(table, file=None, device=entry["name"])
    return Device(entry["name"], entry["protocol"], entry["host"], entry["port"], options,
                  timeout=2.0, retries=0)


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
