"""The Logix simulator against the real client: pycomm3 1.2.16's LogixDriver."""

from __future__ import annotations

import struct

import pytest
from pycomm3 import LogixDriver as PycommLogix

from simulators.logix.attacker import attacker_client, attacker_write_tag
from simulators.logix.generate import sized_image


def _open(sim, **kwargs) -> PycommLogix:
    plc = PycommLogix(f"127.0.0.1:{sim.port}/0", **kwargs)
    plc.socket_timeout = 2.0
    assert plc.open() is True
    return plc


def test_open_uploads_every_tag_and_udt(gantry):
    plc = _open(gantry)
    try:
        assert plc.info["product_name"] == "1756-L83E/B"
        assert plc.info["revision"] == {"major": 33, "minor": 11}
        assert plc.info["keyswitch"] == "REMOTE RUN"
        assert plc.info["name"] == "GANTRY_STS3"
        assert set(plc.info["programs"]) == {"Gantry", "Hoist", "Trolley", "Safety"}
        assert plc.info["programs"]["Hoist"]["routines"] == ["MainRoutine", "Brake", "Overload"]
        assert set(plc.info["tasks"]) == {"MainTask", "SafetyTask"}
        tags = plc.tags
        assert len(tags) > 300
        assert "Gantry_MaxSpeed" in tags and tags["Gantry_MaxSpeed"]["data_type"] == "REAL"
        assert tags["Program:Hoist.Brake_ReleaseDelay"]["data_type"] == "DINT"
        assert tags["LoadCell"]["dimensions"] == [4, 2, 0]
        assert tags["Gantry_ActualSpeed"]["external_access"] == "Read Only"
        # Nested UDTs: Axis -> Motor -> DriveParams, and STRING inside Motor.
        axis = tags["Gantry_Axis"]["data_type"]
        motor = axis["internal_tags"]["Motor"]["data_type"]
        assert motor["name"] == "Motor"
        assert motor["internal_tags"]["Drive"]["data_type"]["name"] == "DriveParams"
        assert set(plc.data_types) == {"Axis", "Motor", "DriveParams", "Alarm", "Spreader", "STRING"}
    finally:
        plc.close()
    pages = [r for r in gantry.requests if r.operation == "cip:0x55@0x6b" and "Program:" not in r.detail]
    assert len(pages) > 1, "the controller-scope symbol list should span several pages"
    programs = {r.detail.split()[1] for r in gantry.requests
                if r.operation == "cip:0x55@0x6b" and "Program:" in r.detail}
    assert programs == {f"Program:{p}" for p in ("Gantry", "Hoist", "Trolley", "Safety")}


def test_reads_atomic_struct_array_string_and_program_tags(gantry):
    gantry.set_value("Recipe", list(range(64)))
    plc = _open(gantry)
    try:
        speed, cfg, recipe, text, brake, cell, member = plc.read(
            "Gantry_MaxSpeed", "Hoist_DriveCfg", "Recipe[2]{3}", "Craneside",
            "Program:Hoist.Brake_ReleaseDelay", "LoadCell[1,0]", "Hoist_DriveCfg.Enabled")
        assert speed.value == 2.5 and speed.error is None
        assert cfg.value["MaxCurrent"] == 310.0 and cfg.value["Enabled"] is True
        assert recipe.value == [2, 3, 4]
        assert text.value == "QUAY-3"
        assert brake.value == 250
        assert cell.value == 0.0 and cell.error is None
        assert member.value is True
        single = plc.read("Hoist_Motor")
        assert single.value["Label"] == "HOIST-M1" and single.value["Drive"]["Mode"] == 0
    finally:
        plc.close()


def test_fragmented_read_of_a_large_array(simulator):
    image = sized_image(40)
    image["tags"].append({"name": "BigTable", "type": "DINT", "dims": [3000],
                          "value": list(range(3000))})
    sim = simulator(image)
    plc = _open(sim)
    try:
        tag = plc.read("BigTable{3000}")
        assert tag.error is None and tag.value == list(range(3000))
    finally:
        plc.close()
    assert any(r.operation in ("cip:0x52@tag", "cip:0x52@0x6b") for r in sim.requests)
    assert all(r.read for r in sim.requests)


def test_attacker_write_changes_the_value_and_is_marked(gantry):
    attacker_write_tag("127.0.0.1", gantry.port, "Gantry_MaxSpeed", 4.0)
    writes = [r for r in gantry.requests if r.operation in ("cip:0x4d@tag", "cip:0x4d@0x6b")]
    assert writes and all(not r.read for r in writes)
    from simulators.base import is_attacker
    assert all(is_attacker(r.peer) for r in writes)
    plc = _open(gantry, init_program_tags=False)
    try:
        assert plc.read("Gantry_MaxSpeed").value == 4.0
    finally:
        plc.close()


def test_writes_to_read_only_tags_and_struct_member_bits(gantry):
    plc = attacker_client("127.0.0.1", gantry.port)
    try:
        assert plc.write("Gantry_ActualSpeed", 1.0).error  # external access Read Only
        assert plc.write("Program:Hoist.Brake_ReleaseDelay", 500).error is None
        assert plc.read("Program:Hoist.Brake_ReleaseDelay").value == 500
    finally:
        plc.close()


def test_unsupported_service_is_answered_with_status_0x08(gantry):
    # Sent from a marked connection: an unknown service counts as a non-read.
    plc = attacker_client("127.0.0.1", gantry.port, init_tags=False)
    try:
        reply = plc.generic_message(service=0x4B, class_code=0x37, instance=1,
                                    name="file-object upload")
        assert reply.error and "not supported" in reply.error.lower()
        reply = plc.generic_message(service=0x0E, class_code=0x8E, instance=1, attribute=0x1B)
        assert reply.error is None
        assert struct.unpack("<Q", reply.value)[0] == gantry.audit_value
    finally:
        plc.close()


def test_online_edit_regenerates_the_audit_value(gantry):
    before = gantry.audit_value
    gantry.edit_routine("Hoist", "Brake", "XIC(Brake_Ok)OTE(Brake_Release);")
    assert gantry.audit_value != before
    assert gantry.controller.programs["Hoist"]["Brake"].startswith("XIC")


def test_inventory_entry_describes_the_running_controller(gantry):
    entry = gantry.inventory_entry()
    assert entry["protocol"] == "logix" and entry["port"] == gantry.port
    assert entry["slot"] == 0 and "Gantry_MaxSpeed" in entry["config_tags"]
    assert entry["modules"] == [1, 2]


@pytest.mark.parametrize("slot", [1, 5], ids=["module-slot", "empty-slot"])
def test_forward_open_to_a_non_controller_slot_fails(gantry, slot):
    plc = PycommLogix(f"127.0.0.1:{gantry.port}/{slot}", init_tags=False)
    plc.socket_timeout = 2.0
    with pytest.raises(Exception):
        plc.open()
    plc.close()
