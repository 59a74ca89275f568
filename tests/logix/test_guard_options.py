"""The read-only guard (refuses before sending; the controller sees nothing) and the
inventory options."""

from __future__ import annotations

import pytest

from drivers.logix import LogixDriver, LogixOptions
from drivers.logix_guard import READ_OPERATIONS, UNPARSEABLE, frame_operations
from integrity.errors import ConfigError, ReadOnlyViolationError


@pytest.fixture
def guarded(gantry, device_for):
    """An opened guarded pycomm3 session on the gantry controller."""
    with LogixDriver(device_for(gantry)) as driver, driver.session(upload_tags=True) as plc:
        yield gantry, plc


def _writes_seen(sim):
    return [r for r in sim.requests if not r.read]


@pytest.mark.parametrize("attempt", [
    pytest.param(lambda plc: plc.write("Gantry_MaxSpeed", 9.0), id="write-tag"),
    pytest.param(lambda plc: plc.write(("Gantry_MaxSpeed", 9.0), ("Gantry_Mode", 2)),
                 id="multi-service-write"),
    pytest.param(lambda plc: plc.write("Hoist_DriveCfg.Enabled", False), id="bit-write"),
    pytest.param(lambda plc: plc.set_plc_time(), id="set-time"),
    pytest.param(lambda plc: plc.generic_message(service=0x07, class_code=0x8E, instance=1),
                 id="mode-change"),
    pytest.param(lambda plc: plc.generic_message(service=0x4E, class_code=0x6B, instance=1,
                                                 request_data=b"\x04\x00" + b"\xff" * 8),
                 id="read-modify-write"),
    pytest.param(lambda plc: plc.generic_message(service=0x4D, class_code=0x6B, instance=1,
                                                 connected=False, unconnected_send=True),
                 id="write-inside-unconnected-send"),
])
def test_non_reads_are_refused_before_sending(guarded, attempt):
    sim, plc = guarded
    before = len(sim.requests)
    with pytest.raises(ReadOnlyViolationError, match="only read requests"):
        attempt(plc)
    assert sim.requests[before:] == []  # nothing at all reached the controller
    assert _writes_seen(sim) == []
    assert plc.read("Gantry_MaxSpeed").value == 2.5


def test_violation_inside_a_pycomm3_wrapper_is_not_disguised(gantry, device_for):
    # pycomm3's get_module_info wraps every exception in ResponseError; the driver
    # must still surface the guard's ReadOnlyViolationError.
    driver = LogixDriver(device_for(gantry))
    with driver.session(upload_tags=False) as plc:
        driver.READ_OPERATIONS = frozenset(READ_OPERATIONS - {"cip:0x01"})
        with pytest.raises(ReadOnlyViolationError), driver.translated(plc):
            plc.get_module_info(1)


def test_frames_that_cannot_be_parsed_are_refused():
    assert frame_operations(b"\x70\x00") == [UNPARSEABLE]
    assert UNPARSEABLE not in READ_OPERATIONS


def test_checker_sends_only_reads_in_both_modes(gantry, collect, assert_only_reads):
    from integrity.model import Mode
    collect(gantry, Mode.QUICK)
    collect(gantry, Mode.DEEP)
    assert_only_reads(gantry)
    ops = {r.operation for r in gantry.requests}
    assert not any(op.startswith(("cip:0x4d", "cip:0x53")) for op in ops)


def _parse(**table):
    return LogixDriver.parse_options(table, file="site.toml", device="plc-gantry")


def test_options_defaults_and_values():
    assert _parse() == LogixOptions()
    opts = _parse(slot=2, config_tags=["Gantry_*", "Program:Hoist.Brake_Delay"], modules=[1, 3])
    assert opts == LogixOptions(2, None, ("Gantry_*", "Program:Hoist.Brake_Delay"), (1, 3))
    assert _parse(route="bp/0/enet/10.0.0.5/bp/2").route == "bp/0/enet/10.0.0.5/bp/2"


@pytest.mark.parametrize("table, field", [
    pytest.param({"slots": 1}, "slots", id="unknown-key"),
    pytest.param({"slot": True}, "slot", id="bool-slot"),
    pytest.param({"slot": 256}, "slot", id="slot-range"),
    pytest.param({"slot": 1, "route": "bp/1"}, "route", id="slot-and-route"),
    pytest.param({"route": "bp/0/enet"}, "route", id="odd-route"),
    pytest.param({"route": ""}, "route", id="empty-route"),
    # pycomm3's route parser takes these; building the request would fail.
    pytest.param({"route": "bp/999"}, "route", id="slot-out-of-range"),
    pytest.param({"route": "enet/not-an-ip"}, "route", id="enet-not-an-address"),
    pytest.param({"route": "bp/0/enet/10.0.0.5:44818/bp/2"}, "route", id="enet-with-port"),
    pytest.param({"route": "bp/0,1"}, "route", id="comma"),
    pytest.param({"route": "foo/1"}, "route", id="unknown-port"),
    pytest.param({"route": "bp/-1"}, "route", id="negative-slot"),
    pytest.param({"config_tags": "Gantry_MaxSpeed"}, "config_tags", id="config-not-list"),
    pytest.param({"config_tags": [""]}, "config_tags", id="config-empty-name"),
    pytest.param({"modules": [1, 1]}, "modules", id="module-twice"),
    pytest.param({"modules": ["1"]}, "modules", id="module-not-int"),
])
def test_bad_options_name_file_device_and_field(table, field):
    with pytest.raises(ConfigError) as info:
        _parse(**table)
    err = info.value
    assert (err.file, err.device, err.field) == ("site.toml", "plc-gantry", field)


@pytest.mark.parametrize("route", ["bp/999", "enet/not-an-ip", "bp/0,1"])
def test_invalid_route_fails_the_inventory_not_the_run(run, inventory, route):
    inventory.write({"name": "plc-gantry", "protocol": "logix", "host": "127.0.0.1",
                     "route": route})
    code, doc = run.json("verify", "--all")
    assert code == 2, doc
    assert "sim.toml" in doc["error"] and "'plc-gantry'" in doc["error"]
    assert "field 'route'" in doc["error"] and "invalid CIP route" in doc["error"]


def test_route_reaches_the_controller(gantry):
    from integrity.model import Device, Mode
    opts = _parse(route="bp/0", config_tags=["Gantry_MaxSpeed"])
    device = Device("plc-gantry", "logix", "127.0.0.1", gantry.port, opts, timeout=2.0)
    with LogixDriver(device) as driver:
        assert driver.collect(Mode.DEEP).by_key()["config"].value() == {"Gantry_MaxSpeed": 2.5}


def test_registry_finds_the_driver():
    from drivers.registry import driver_class
    assert driver_class("logix") is LogixDriver and LogixDriver.default_port == 44818
