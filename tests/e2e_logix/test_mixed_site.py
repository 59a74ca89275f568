"""One site, three protocols and a dead device: `verify --all --json` reports
every device in one JSON document, and the dead one makes the run exit 3."""

from __future__ import annotations

import copy
from typing import Iterator

import pytest

from simulators.base import IMAGES, load_image
from simulators.logix import LogixSimulator
from simulators.modbus import ModbusSimulator
from simulators.s7 import S7Simulator

WITHIN = 8.0  # four devices read concurrently, inventory timeout 0.5 s each; generous


@pytest.fixture
def drive() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(load_image(IMAGES / "crane" / "vfd-hoist.json")) as sim:
        yield sim


@pytest.fixture
def hoist() -> Iterator[S7Simulator]:
    with S7Simulator(load_image(IMAGES / "crane" / "plc-hoist.json")) as sim:
        yield sim


def test_mixed_site_with_one_dead_device(run, inventory, drive, hoist, gantry, only_reads):
    # A second controller that is alive for its baseline and then dies.
    doomed = LogixSimulator({**copy.deepcopy(gantry.image), "name": "plc-spare"})
    doomed.start()
    try:
        tables = [inventory.table(s) for s in (drive, hoist, gantry, doomed)]
        inventory.write(*tables)
        r = run.capture("--all")
        assert r.exit_code == 0, r.output
    finally:
        doomed.stop()  # its port now refuses connections

    code, doc, elapsed = run.timed_json("verify", "--all")
    assert code == 3 and doc["exit_code"] == 3
    by_name = {x["device"]: x for x in doc["results"]}
    assert list(by_name) == ["vfd-hoist", "plc-hoist", "plc-gantry", "plc-spare"]
    assert {n: x["protocol"] for n, x in by_name.items()} == {
        "vfd-hoist": "modbus", "plc-hoist": "s7", "plc-gantry": "logix", "plc-spare": "logix"}
    for name in ("vfd-hoist", "plc-hoist", "plc-gantry"):
        assert by_name[name]["status"] == "OK", by_name[name]
    dead = by_name["plc-spare"]
    assert (dead["status"], dead["reason"]) == ("UNREACHABLE", "refused"), dead
    assert "plc-spare" in dead["message"]
    assert elapsed < WITHIN
    for sim in (drive, hoist, gantry):
        only_reads(sim)
